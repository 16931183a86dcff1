from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import Op, Statement
from expandcontract.lint.rules._types import NEW_COLUMN_KINDS, columns_of_type
from expandcontract.lint.rules.base import Rule

_TYPES = frozenset({"timestamp without time zone"})  # canonical names (pgtypes.py)


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    bad = columns_of_type(op, _TYPES)
    return f"timestamp without time zone: {', '.join(bad)}" if bad else None


RULE = Rule(
    id="prefer-timestamptz",
    severity="warning",
    summary="timestamp without time zone",
    why=(
        "timestamp without time zone stores wall-clock time and silently breaks across "
        "time zones; converting later rewrites the table."
    ),
    suggestion="Use timestamptz.",
    equivalents={"squawk": ["prefer-timestamp-tz"]},
    check=check,
    kinds=NEW_COLUMN_KINDS,
    bad="CREATE TABLE t (created_at timestamp);",
    good="CREATE TABLE t (created_at timestamptz);",
)
