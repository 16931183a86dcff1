from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind != K.ENUM_ADD_VALUE or not ctx.in_transaction or ctx.is_new(op.table):
        return None
    if ctx.pg < 12:
        return "ALTER TYPE … ADD VALUE cannot run inside a transaction block before PostgreSQL 12"
    return (
        f"the new value of {op.table} cannot be used until this transaction commits; "
        "using it later in the same transaction fails"
    )


RULE = Rule(
    id="enum-add-value-in-transaction",
    severity="warning",
    summary="ALTER TYPE … ADD VALUE inside a transaction",
    why="Before PostgreSQL 12 it fails inside a transaction block; from 12 on the new value is "
    "unusable until COMMIT.",
    suggestion="Run ADD VALUE in its own non-transactional migration (ec sql operation).",
    equivalents={},
    check=check,
    kinds=frozenset({K.ENUM_ADD_VALUE}),
    bad="BEGIN;\nALTER TYPE mood ADD VALUE 'meh' BEFORE 'ok';\nCOMMIT;",
    good="ALTER TYPE mood ADD VALUE 'meh' BEFORE 'ok';",
)
