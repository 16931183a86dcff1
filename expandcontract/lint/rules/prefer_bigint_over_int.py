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
    suggestion="Use bigint now. Later, ec alter_column widens an int column without downtime, "
    "primary keys and identity columns included (a synced bigint copy, a backfill, then a "
    "brief catalog-only swap; referencing foreign keys keep working), e.g. `alter_column: "
    "{table: t, column: id, type: bigint}`, but copying a big table is not cheap.",
    equivalents={"squawk": ["prefer-bigint-over-int"]},
    check=check,
    kinds=NEW_COLUMN_KINDS,
    bad="CREATE TABLE t (id int);",
    good="CREATE TABLE t (id bigint);",
)
