from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing
from expandcontract.lint.rules.base import COMPAT, Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.RENAME_COLUMN and existing(op, ctx):
        old = op.column.name if op.column else "?"
        return f"RENAME COLUMN {old} TO {op.name}: running code using {old} fails at once"
    return None


RULE = Rule(
    id="renaming-column",
    severity="warning",
    summary="ALTER TABLE … RENAME COLUMN",
    why="The old name disappears instantly; every deployed version still using it breaks.",
    suggestion="Use ec operation rename_column: both names stay usable (one per version schema) "
    "until contract.",
    equivalents={
        "squawk": ["renaming-column"],
        "strong_migrations": ["rename_column"],
        "atlas": ["BC102"],
    },
    check=check,
    kinds=frozenset({K.RENAME_COLUMN}),
    tags=(COMPAT,),
    bad="ALTER TABLE users RENAME COLUMN name TO full_name;",
    good="CREATE TABLE t (name text);\nALTER TABLE t RENAME COLUMN name TO full_name;",
)
