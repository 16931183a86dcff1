from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import Op, Statement
from expandcontract.lint.rules._types import NEW_COLUMN_KINDS, new_columns
from expandcontract.lint.rules.base import Rule

_TYPES = {"int", "integer", "int4", "serial", "serial4"}


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    bad = [f"{name} {kind}" for name, kind in new_columns(op) if kind.split("(")[0] in _TYPES]
    return f"int column (may overflow): {', '.join(bad)}" if bad else None


RULE = Rule(
    id="prefer-bigint-over-int",
    severity="info",
    summary="int column (may overflow)",
    why=(
        "int ids overflow at 2^31; converting a big table to bigint later is a full "
        "rewrite under ACCESS EXCLUSIVE."
    ),
    suggestion="Use bigint (ec alter_column can convert later without downtime, but not cheaply).",
    equivalents={"squawk": ["prefer-bigint-over-int"]},
    check=check,
    kinds=NEW_COLUMN_KINDS,
    bad="CREATE TABLE t (id int);",
    good="CREATE TABLE t (id bigint);",
)
