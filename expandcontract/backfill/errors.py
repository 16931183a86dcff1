"""Errors the backfill engine raises on purpose."""

from __future__ import annotations

from expandcontract.errors import ConfigError, ECError


class BackfillInputError(ConfigError):
    """The backfill's table, columns, keys or expressions are wrong; nothing was updated."""


class BackfillFailed(ECError):
    """The run stopped; the committed batches (the checkpoint) are kept for a resume."""


class BackfillRowError(BackfillFailed):
    """One row makes the SET expression fail; its key is named so it can be fixed."""

    def __init__(self, message: str, hint: str | None = None, *, key: object = None) -> None:
        super().__init__(message, hint)
        self.key = key


class BackfillCancelled(ECError):
    """``ec backfill cancel`` was requested; the run stopped after its current batch."""


class LeaseLost(Exception):
    """Another worker took over this range (our lease expired); stop touching it."""
