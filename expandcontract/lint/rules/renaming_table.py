from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing
from expandcontract.lint.rules.base import COMPAT, Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.RENAME_TABLE and existing(op, ctx):
        return f"RENAME {op.table} TO {op.name}: running code using {op.table} fails at once"
    return None


RULE = Rule(
    id="renaming-table",
    severity="warning",
    summary="ALTER TABLE … RENAME TO",
    why="The old table name disappears instantly; every deployed version still using it breaks.",
    suggestion="Use ec operation rename_table: each version schema exposes its own name until "
    "contract.",
    equivalents={
        "squawk": ["renaming-table"],
        "strong_migrations": ["rename_table"],
        "atlas": ["BC101"],
    },
    check=check,
    kinds=frozenset({K.RENAME_TABLE}),
    tags=(COMPAT,),
    bad="ALTER TABLE users RENAME TO customers;",
    good="CREATE TABLE t (id int);\nALTER TABLE t RENAME TO t2;",
)
