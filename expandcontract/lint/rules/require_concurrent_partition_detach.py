from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind != K.DETACH_PARTITION or op.concurrently or op.detail.get("finalize"):
        return None
    hint = (
        "use DETACH PARTITION … CONCURRENTLY"
        if ctx.pg >= 14
        else ("DETACH … CONCURRENTLY needs PostgreSQL 14+")
    )
    return (
        f"DETACH PARTITION {op.name} takes an ACCESS EXCLUSIVE lock on {op.table} (blocks all "
        f"reads and writes of every partition); {hint}"
    )


RULE = Rule(
    id="require-concurrent-partition-detach",
    severity="warning",
    summary="DETACH PARTITION without CONCURRENTLY",
    why="A plain DETACH PARTITION takes ACCESS EXCLUSIVE on the partitioned parent.",
    suggestion="On PostgreSQL 14+ use DETACH PARTITION … CONCURRENTLY outside a transaction "
    "(ec sql operation in its own migration).",
    equivalents={"squawk": ["require-concurrent-partition-detach"]},
    check=check,
    kinds=frozenset({K.DETACH_PARTITION}),
    bad="ALTER TABLE measurements DETACH PARTITION measurements_2023;",
    good="ALTER TABLE measurements DETACH PARTITION measurements_2023 CONCURRENTLY;",
)
