from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.BEGIN and ctx.depth > 0:
        return "BEGIN inside an open transaction: PostgreSQL ignores it with a warning"
    if op.kind == K.BEGIN and ctx.assume_in_transaction:
        return (
            "BEGIN in a file the migration tool already runs in a transaction: its COMMIT "
            "ends the tool's transaction early"
        )
    if op.kind in (K.COMMIT, K.ROLLBACK) and ctx.assume_in_transaction and ctx.depth == 0:
        return "COMMIT/ROLLBACK in a file the migration tool runs in a transaction"
    return None


RULE = Rule(
    id="transaction-nesting",
    severity="warning",
    summary="nested BEGIN, or explicit BEGIN/COMMIT in a file the tool wraps in a transaction",
    why="Nested BEGIN does nothing, and an explicit COMMIT inside a tool-managed transaction "
    "commits half a migration.",
    suggestion="Remove the explicit transaction or mark the file as not wrapped "
    "(-- ec:assume-in-transaction off).",
    equivalents={"squawk": ["transaction-nesting"], "atlas": ["TX201"]},
    check=check,
    kinds=frozenset({K.BEGIN, K.COMMIT, K.ROLLBACK}),
    bad="BEGIN;\nBEGIN;\nCOMMIT;",
    good="BEGIN;\nCOMMIT;",
)
