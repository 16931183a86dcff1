from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing
from expandcontract.lint.rules.base import COMPAT, Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.DROP_COLUMN and existing(op, ctx):
        return (
            f"DROP COLUMN {op.table}.{op.name} deletes its data; running code that selects or "
            "inserts it fails"
        )
    return None


RULE = Rule(
    id="ban-drop-column",
    severity="warning",
    summary="ALTER TABLE … DROP COLUMN",
    why="Data loss, and every deployed version of the app that still reads or writes the column "
    "breaks the moment it is gone.",
    suggestion="Use ec operation drop_column: the old version keeps seeing the column through its"
    " version schema until contract.",
    equivalents={
        "squawk": ["ban-drop-column"],
        "strong_migrations": ["remove_column"],
        "atlas": ["DS103"],
    },
    check=check,
    kinds=frozenset({K.DROP_COLUMN}),
    tags=(COMPAT,),
    bad="ALTER TABLE users DROP COLUMN legacy;",
    good="CREATE TABLE t (legacy int);\nALTER TABLE t DROP COLUMN legacy;",
)
