from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import COMPAT, Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.DROP and op.detail.get("object") == "TABLE" and not ctx.is_new(op.table):
        return f"DROP TABLE {op.table} deletes its data and breaks every client still using it"
    return None


RULE = Rule(
    id="ban-drop-table",
    severity="warning",
    summary="DROP TABLE",
    why="Data loss; running code that still uses the table fails.",
    suggestion="Use ec operation drop_table (dropped only in contract, after the old version is "
    "gone).",
    equivalents={"squawk": ["ban-drop-table"], "atlas": ["DS102"]},
    check=check,
    kinds=frozenset({K.DROP}),
    tags=(COMPAT,),
    bad="DROP TABLE old_users;",
    good="CREATE TABLE tmp (id int);\nDROP TABLE tmp;",
)
