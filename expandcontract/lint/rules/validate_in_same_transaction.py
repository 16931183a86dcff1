from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.locks import AEL, SRE
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind != K.VALIDATE_CONSTRAINT or not ctx.in_transaction or not op.table:
        return None
    added_here = ctx.not_valid.get(op.name or "") == ctx.tx_number
    held = ctx.held.get(op.table)
    if not added_here and held not in (AEL, SRE):
        return None
    return (
        f"VALIDATE CONSTRAINT {op.name} runs in the transaction that already holds "
        f"{held or AEL} on {op.table}: the validation scan keeps that lock (blocks reads "
        "and/or writes) until COMMIT"
    )


RULE = Rule(
    id="validate-in-same-transaction",
    severity="error",
    summary="VALIDATE CONSTRAINT in the same transaction that added it NOT VALID",
    why="NOT VALID is only cheap if the validation runs later: in the same transaction the strong "
    "lock taken by ADD CONSTRAINT is held during the whole validation scan.",
    suggestion="COMMIT after ADD … NOT VALID and VALIDATE in a separate transaction or migration "
    "(ec puts VALIDATE in the contract phase).",
    equivalents={
        "squawk": ["constraint-missing-not-valid"],
        "strong_migrations": ["validate_foreign_key", "validate_check_constraint"],
        "eugene": ["E4"],
    },
    check=check,
    kinds=frozenset({K.VALIDATE_CONSTRAINT}),
    bad="BEGIN;\nALTER TABLE users ADD CONSTRAINT c CHECK (age >= 0) NOT VALID;\n"
    "ALTER TABLE users VALIDATE CONSTRAINT c;\nCOMMIT;",
    good="ALTER TABLE users ADD CONSTRAINT c CHECK (age >= 0) NOT VALID;\n"
    "ALTER TABLE users VALIDATE CONSTRAINT c;",
)
