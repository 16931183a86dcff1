from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.DROP and op.detail.get("object") == "SCHEMA" and not ctx.is_new(op.table):
        return f"DROP SCHEMA {op.table} deletes every object in it"
    return None


RULE = Rule(
    id="ban-drop-schema",
    severity="error",
    summary="DROP SCHEMA",
    why="Deletes every table, view and function in the schema.",
    suggestion="Drop the objects one by one in contract phases (ec drop_table).",
    equivalents={"squawk": ["ban-drop-schema"], "atlas": ["DS101"]},
    check=check,
    kinds=frozenset({K.DROP}),
    bad="DROP SCHEMA legacy CASCADE;",
    good="CREATE SCHEMA scratch;\nDROP SCHEMA scratch;",
)
