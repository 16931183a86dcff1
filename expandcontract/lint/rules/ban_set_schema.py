from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import COMPAT, Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.SET_SCHEMA and not ctx.is_new(op.table):
        return f"SET SCHEMA {op.name} moves {op.table}: clients using the old qualified name break"
    return None


RULE = Rule(
    id="ban-set-schema",
    severity="warning",
    summary="ALTER … SET SCHEMA",
    why="The object disappears from its old schema instantly (ACCESS EXCLUSIVE while it moves).",
    suggestion="Expose it in the new schema through a view first (ec version schemas do this), "
    "move it in contract.",
    equivalents={"squawk": ["ban-set-schema"]},
    check=check,
    kinds=frozenset({K.SET_SCHEMA}),
    tags=(COMPAT,),
    bad="ALTER TABLE users SET SCHEMA archive;",
    good="CREATE TABLE t (id int);\nALTER TABLE t SET SCHEMA archive;",
)
