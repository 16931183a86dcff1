from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import Op, Statement
from expandcontract.lint.rules._types import NEW_COLUMN_KINDS, columns_of_type
from expandcontract.lint.rules.base import Rule

_TYPES = frozenset({"character varying"})  # canonical names (pgtypes.py)


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    bad = columns_of_type(op, _TYPES, with_modifiers=True)  # plain varchar has no limit
    return f"varchar(n) column: {', '.join(bad)}" if bad else None


RULE = Rule(
    id="prefer-text-field",
    severity="info",
    summary="varchar(n) column",
    why=(
        "Raising a varchar limit later is cheap, but lowering or changing it rewrites the"
        " table under ACCESS EXCLUSIVE; the limit is better a CHECK."
    ),
    suggestion="Use text plus a CHECK (length(col) <= n) NOT VALID.",
    equivalents={"squawk": ["prefer-text-field"]},
    check=check,
    kinds=NEW_COLUMN_KINDS,
    bad="CREATE TABLE t (name varchar(100));",
    good="CREATE TABLE t (name text);",
)
