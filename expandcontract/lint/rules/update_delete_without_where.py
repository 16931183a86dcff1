from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import where
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind not in (K.UPDATE, K.DELETE) or op.has_where or ctx.is_new(op.table):
        return None
    verb = "UPDATE" if op.kind == K.UPDATE else "DELETE"
    return (
        f"{verb} of every row of {op.table} in one statement{where(op)}: it row-locks the whole"
        " table until it finishes and bloats it"
    )


RULE = Rule(
    id="update-delete-without-where",
    severity="error",
    summary="UPDATE or DELETE without WHERE on an existing table",
    why="One statement touching every row holds every row lock for its whole run (writers wait), "
    "produces the table's size again in WAL and dead tuples, and cannot resume.",
    suggestion="Use ec backfill: batches by primary key, throttled by replication lag, resumable.",
    equivalents={},
    check=check,
    kinds=frozenset({K.UPDATE, K.DELETE}),
    bad="UPDATE users SET status = 'active';",
    good="UPDATE users SET status = 'active' WHERE id BETWEEN 1 AND 1000;",
)
