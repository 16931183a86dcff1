from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.DROP_EXPRESSION and existing(op, ctx):
        name = op.column.name if op.column else "?"
        return f"DROP EXPRESSION on {name}: the column stops being computed for new rows"
    return None


RULE = Rule(
    id="ban-drop-generated-expression",
    severity="warning",
    summary="ALTER COLUMN … DROP EXPRESSION",
    why="New rows stop getting the computed value; readers expecting it get NULLs.",
    suggestion="Keep the value maintained (trigger) until no reader depends on it (ec sql on: "
    "contract).",
    equivalents={"squawk": ["ban-drop-generated-expression"]},
    check=check,
    kinds=frozenset({K.DROP_EXPRESSION}),
    bad="ALTER TABLE orders ALTER COLUMN total DROP EXPRESSION;",
    good="ALTER TABLE orders ADD COLUMN note text;",
)
