"""The engine tests' small tables (300 users), analysed."""

from __future__ import annotations

from tests.engine.conftest import seeded

__all__ = ["seeded"]
