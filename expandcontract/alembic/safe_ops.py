"""(being written in this change)"""

from __future__ import annotations


def register() -> None:
    """Register with Alembic's Operations (called from plugin.setup)."""
