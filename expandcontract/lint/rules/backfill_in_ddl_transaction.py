from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind not in (K.UPDATE, K.DELETE) and not (
        op.kind == K.INSERT and op.detail.get("select")
    ):
        return None
    if ctx.is_new(op.table) or not ctx.in_transaction or not ctx.ddl_in_tx:
        return None
    if (op.table or "").removeprefix("pg_catalog.").startswith("pg_"):
        return None  # a system catalog (UPDATE pg_index …): catalog surgery, not a backfill
    return (
        f"data change on {op.table} in the same transaction as DDL: every row it touches and "
        "every DDL lock taken earlier stay locked until COMMIT"
    )


RULE = Rule(
    id="backfill-in-ddl-transaction",
    severity="error",
    summary="data backfill (UPDATE/DELETE/INSERT … SELECT) inside a DDL transaction",
    why="A backfill in the DDL transaction holds the DDL locks (often ACCESS EXCLUSIVE) and the "
    "row locks of every row it touches until the end, and writes one huge transaction of WAL.",
    suggestion="Commit the DDL first and move the data change to ec backfill (batched, throttled, "
    "resumable).",
    equivalents={"eugene": ["E4"], "strong_migrations": ["execute"]},
    check=check,
    kinds=frozenset({K.UPDATE, K.DELETE, K.INSERT}),
    bad="BEGIN;\nALTER TABLE users ADD COLUMN status text;\n"
    "UPDATE users SET status = 'active' WHERE status IS NULL;\nCOMMIT;",
    good="ALTER TABLE users ADD COLUMN status text;\n"
    "UPDATE users SET status = 'active' WHERE status IS NULL;",
)
