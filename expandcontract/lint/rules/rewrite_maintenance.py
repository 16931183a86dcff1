from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.CLUSTER or (op.kind == K.VACUUM and op.detail.get("full")):
        what = "CLUSTER" if op.kind == K.CLUSTER else "VACUUM FULL"
        return (
            f"{what} {op.table or '(all tables)'} rewrites the table under an ACCESS "
            "EXCLUSIVE lock (blocks all reads and writes)"
        )
    return None


RULE = Rule(
    id="rewrite-maintenance",
    severity="error",
    summary="VACUUM FULL or CLUSTER (full rewrite under ACCESS EXCLUSIVE)",
    why="VACUUM FULL and CLUSTER copy the whole table while holding an ACCESS EXCLUSIVE lock.",
    suggestion="Use pg_repack or pg_squeeze (or REPACK CONCURRENTLY on PostgreSQL 19+) outside "
    "migrations; plain VACUUM does not block.",
    equivalents={"squawk": ["prefer-repack"], "eugene": ["E10"]},
    check=check,
    kinds=frozenset({K.CLUSTER, K.VACUUM}),
    bad="VACUUM FULL users;",
    good="VACUUM (ANALYZE) users;",
)
