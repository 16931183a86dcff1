from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing
from expandcontract.lint.rules.base import COMPAT, Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.DROP_DEFAULT and existing(op, ctx) and op.column:
        return f"DROP DEFAULT on {op.column.name}: inserts that omit it now write NULL or fail"
    return None


RULE = Rule(
    id="ban-drop-default",
    severity="warning",
    summary="ALTER COLUMN … DROP DEFAULT",
    why="Running code that relies on the default starts writing NULLs or failing NOT NULL.",
    suggestion="Drop the default only after no deployed version relies on it (ec alter_column "
    "default in a contract phase).",
    equivalents={"squawk": ["ban-drop-default"]},
    check=check,
    kinds=frozenset({K.DROP_DEFAULT}),
    tags=(COMPAT,),
    bad="ALTER TABLE users ALTER COLUMN status DROP DEFAULT;",
    good="ALTER TABLE users ALTER COLUMN status SET DEFAULT 'active';",
)
