from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if ctx.phase != "contract" or ctx.is_new(op.table):
        return None
    if op.kind in (K.UPDATE, K.INSERT) or (op.kind == K.DELETE and not op.has_where):
        return (
            f"data backfill of {op.table} inside a contract migration: contract must run "
            "after the backfill has finished and been verified"
        )
    return None


RULE = Rule(
    id="contract-before-backfill",
    severity="error",
    summary="contract migration that still backfills data (contract before backfill)",
    why="Contract makes the new schema mandatory (NOT NULL, drops); if the backfill runs in or "
    "after it, rows the old version wrote meanwhile violate it or are lost.",
    suggestion="Run ec backfill (verified complete) before the contract phase.",
    equivalents={},
    check=check,
    bad="-- ec:phase contract\nUPDATE users SET status = 'active' WHERE status IS NULL;",
    good="-- ec:phase expand\nUPDATE users SET status = 'active' WHERE status IS NULL;",
)
