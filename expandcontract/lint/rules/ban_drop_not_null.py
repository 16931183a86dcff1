from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing
from expandcontract.lint.rules.base import COMPAT, Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.DROP_NOT_NULL and existing(op, ctx) and op.column:
        return f"DROP NOT NULL on {op.column.name}: running code may not expect NULLs"
    return None


RULE = Rule(
    id="ban-drop-not-null",
    severity="warning",
    summary="ALTER COLUMN … DROP NOT NULL",
    why="Readers written for a NOT NULL column may crash on the first NULL.",
    suggestion="Use ec operation alter_column with nullable: true and a down: value so the old "
    "version never sees NULL.",
    equivalents={"squawk": ["ban-drop-not-null"]},
    check=check,
    kinds=frozenset({K.DROP_NOT_NULL}),
    tags=(COMPAT,),
    bad="ALTER TABLE users ALTER COLUMN email DROP NOT NULL;",
    good="ALTER TABLE users ALTER COLUMN email SET DEFAULT '';",
)
