from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind != K.TRUNCATE or ctx.is_new(op.table):
        return None
    extra = "; CASCADE also empties every table referencing it" if op.cascade else ""
    return (
        f"TRUNCATE {op.table} deletes all rows under an ACCESS EXCLUSIVE lock (blocks all "
        f"reads and writes){extra}"
    )


RULE = Rule(
    id="truncate-table",
    severity="error",
    summary="TRUNCATE of an existing table (CASCADE especially)",
    why="TRUNCATE is data loss under ACCESS EXCLUSIVE; CASCADE recursively empties referencing "
    "tables nobody named.",
    suggestion="Name every table explicitly and delete in batches (ec backfill), or drop the "
    "table in a contract phase (ec drop_table).",
    equivalents={"squawk": ["ban-truncate-cascade"]},
    check=check,
    kinds=frozenset({K.TRUNCATE}),
    bad="TRUNCATE audit_log CASCADE;",
    good="CREATE TABLE scratch (id int);\nTRUNCATE scratch;",
)
