from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import Op, Statement
from expandcontract.lint.rules._types import NEW_COLUMN_KINDS, columns_of_type
from expandcontract.lint.rules.base import Rule

_TYPES = frozenset({"integer", "serial"})  # canonical names (pgtypes.py)


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    bad = columns_of_type(op, _TYPES)
    return f"int column (may overflow): {', '.join(bad)}" if bad else None


RULE = Rule(
    id="prefer-bigint-over-int",
    severity="info",
    summary="int column (may overflow)",
    why=(
        "int ids overflow at 2^31; converting a big table to bigint later is a full "
        "rewrite under ACCESS EXCLUSIVE."
    ),
    suggestion="Use bigint now. ec alter_column can convert an ordinary column later without "
    "downtime (dual writes and a backfill: not cheap) but refuses a primary key column, so an "
    "int id stays int.",
    equivalents={"squawk": ["prefer-bigint-over-int"]},
    check=check,
    kinds=NEW_COLUMN_KINDS,
    bad="CREATE TABLE t (id int);",
    good="CREATE TABLE t (id bigint);",
)
