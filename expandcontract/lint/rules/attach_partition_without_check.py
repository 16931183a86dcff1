from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind != K.ATTACH_PARTITION or not op.name or ctx.is_new(op.name):
        return None
    # A validated CHECK on the partition lets PostgreSQL skip the bound scan.
    if any(c in ctx.validated for c in ctx.checks_on.get(op.name, ())):
        return None
    lock = "SHARE UPDATE EXCLUSIVE" if ctx.pg >= 12 else "ACCESS EXCLUSIVE"
    return (
        f"ATTACH PARTITION {op.name} scans the partition under lock to prove its bound "
        f"({lock} on {op.table}, ACCESS EXCLUSIVE on {op.name}: blocks its reads and writes)"
    )


RULE = Rule(
    id="attach-partition-without-check",
    severity="warning",
    summary="ATTACH PARTITION without a validated CHECK proving the partition bound",
    why="ATTACH PARTITION scans the whole partition (and the default partition) to prove every "
    "row fits the bound, holding ACCESS EXCLUSIVE on the partition meanwhile.",
    suggestion="Add a CHECK matching the bound NOT VALID, VALIDATE it, ATTACH, then drop the CHECK"
    " (ec sql operations, the VALIDATE in its own transaction).",
    equivalents={},
    check=check,
    kinds=frozenset({K.ATTACH_PARTITION}),
    bad="ALTER TABLE measurements ATTACH PARTITION m2024 FOR VALUES FROM ('2024-01-01') "
    "TO ('2025-01-01');",
    good="ALTER TABLE m2024 ADD CONSTRAINT m2024_bound CHECK (ts >= '2024-01-01' AND "
    "ts < '2025-01-01') NOT VALID;\nALTER TABLE m2024 VALIDATE CONSTRAINT m2024_bound;\n"
    "ALTER TABLE measurements ATTACH PARTITION m2024 FOR VALUES FROM ('2024-01-01') "
    "TO ('2025-01-01');",
)
