from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.DROP and op.detail.get("object") == "DATABASE":
        return f"DROP DATABASE {op.table} in a migration"
    return None


RULE = Rule(
    id="ban-drop-database",
    severity="error",
    summary="DROP DATABASE",
    why="Deletes a whole database; never part of a schema migration.",
    suggestion="Do it by hand, outside migrations.",
    equivalents={"squawk": ["ban-drop-database"]},
    check=check,
    kinds=frozenset({K.DROP}),
    bad="DROP DATABASE app;",
    good="DROP TABLE IF EXISTS never_created;",
    tags=("destructive",),
)
