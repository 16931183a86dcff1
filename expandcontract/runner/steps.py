"""What the runner runs: a Step (statements that commit together) and its result."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import psycopg
from psycopg import sql

Connection = psycopg.Connection[tuple[Any, ...]]
Statement = sql.SQL | sql.Composed

# Statements PostgreSQL refuses inside a transaction block.
NON_TRANSACTIONAL = re.compile(
    r"\bCONCURRENTLY\b|^\s*(VACUUM|CREATE\s+DATABASE|DROP\s+DATABASE|ALTER\s+SYSTEM)\b", re.I
)


@dataclasses.dataclass(frozen=True)
class Step:
    """A unit of work that either happens completely or not at all (where PostgreSQL allows).

    ``transactional=None`` infers it: statements with CONCURRENTLY run in autocommit.
    ``creates_index`` names an index built CONCURRENTLY, so a failed build's INVALID
    leftover is dropped before a retry. ``statement_timeout_ms=0`` means no limit,
    for steps that scan by design (index builds, VALIDATE CONSTRAINT).
    Each statement is sent through the extended protocol, which carries exactly one statement
    (a user expression inside cannot smuggle in a second one); ``multi_statement`` lifts that
    for the raw ``sql`` escape hatch only.
    """

    description: str
    statements: tuple[Statement, ...]
    transactional: bool | None = None
    lock_timeout_ms: int | None = None
    statement_timeout_ms: int | None = None
    creates_index: tuple[str, str] | None = None
    multi_statement: bool = False

    @classmethod
    def of(cls, description: str, *statements: Statement, **kwargs: Any) -> Step:
        return cls(description, tuple(statements), **kwargs)

    def is_transactional(self, conn: Connection) -> bool:
        if self.transactional is not None:
            return self.transactional
        return not any(NON_TRANSACTIONAL.search(s.as_string(conn)) for s in self.statements)


@dataclasses.dataclass(frozen=True)
class StepResult:
    attempts: int
    duration_ms: float
    lock_wait_ms: float
    rows: list[tuple[Any, ...]] | None
    skipped: bool = False
