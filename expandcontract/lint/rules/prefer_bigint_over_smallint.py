from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import Op, Statement
from expandcontract.lint.rules._types import NEW_COLUMN_KINDS, columns_of_type
from expandcontract.lint.rules.base import Rule

_TYPES = frozenset({"smallint", "smallserial"})  # canonical names (pgtypes.py)


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    bad = columns_of_type(op, _TYPES)
    return f"smallint column (may overflow): {', '.join(bad)}" if bad else None


RULE = Rule(
    id="prefer-bigint-over-smallint",
    severity="info",
    summary="smallint column (may overflow)",
    why="smallint overflows at 32767; widening later rewrites the table.",
    suggestion="Use bigint.",
    equivalents={"squawk": ["prefer-bigint-over-smallint"]},
    check=check,
    kinds=NEW_COLUMN_KINDS,
    bad="CREATE TABLE t (n smallint);",
    good="CREATE TABLE t (n bigint);",
)
