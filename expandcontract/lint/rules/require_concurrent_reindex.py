from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind != K.REINDEX or op.concurrently:
        return None
    hint = "" if ctx.pg >= 12 else " (REINDEX CONCURRENTLY needs PostgreSQL 12+)"
    return (
        f"REINDEX {op.detail.get('object', '')} {op.table} blocks writes to the table and "
        f"locks the index against reads{hint}"
    )


RULE = Rule(
    id="require-concurrent-reindex",
    severity="warning",
    summary="REINDEX without CONCURRENTLY",
    why="REINDEX takes a SHARE lock on the table (blocks writes) and an ACCESS EXCLUSIVE lock on "
    "each index it rebuilds (queries using it wait).",
    suggestion="Use REINDEX … CONCURRENTLY (PostgreSQL 12+) outside a transaction, e.g. through "
    "an ec sql operation in its own migration.",
    equivalents={"squawk": ["require-concurrent-reindex"]},
    check=check,
    kinds=frozenset({K.REINDEX}),
    bad="REINDEX INDEX users_email_idx;",
    good="REINDEX INDEX CONCURRENTLY users_email_idx;",
)
