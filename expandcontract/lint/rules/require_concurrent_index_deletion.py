from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind != K.DROP_INDEX or op.concurrently or ctx.is_new(op.name):
        return None
    return (
        f"DROP INDEX {op.name} without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on its "
        "table (blocks all reads and writes)"
    )


RULE = Rule(
    id="require-concurrent-index-deletion",
    severity="warning",
    summary="DROP INDEX without CONCURRENTLY",
    why="DROP INDEX takes an ACCESS EXCLUSIVE lock on the table; while it waits for running "
    "queries, every new query on the table queues behind it.",
    suggestion="Use DROP INDEX CONCURRENTLY IF EXISTS outside a transaction (ec operation "
    "drop_index).",
    equivalents={
        "squawk": ["require-concurrent-index-deletion"],
        "strong_migrations": ["remove_index"],
        "atlas": ["PG102"],
    },
    check=check,
    kinds=frozenset({K.DROP_INDEX}),
    bad="DROP INDEX users_email_idx;",
    good="DROP INDEX CONCURRENTLY IF EXISTS users_email_idx;",
)
