"""(being written in this change)"""

from __future__ import annotations

from typing import Any


def register(plugin: Any) -> None:
    """Register autogenerate comparators and renderers (called from plugin.setup)."""
