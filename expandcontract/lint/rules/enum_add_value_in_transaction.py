from __future__ import annotations

from dataclasses import dataclass

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import Rule

_ID = "enum-add-value-in-transaction"


@dataclass(frozen=True)
class _Added:
    tx: int
    literal: str  # the value as a SQL string literal, quotes doubled: 'it''s'
    enum: str


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.ENUM_ADD_VALUE:
        if not ctx.in_transaction or ctx.is_new(op.table):
            return None  # a type created in the same transaction may use its values at once
        if ctx.pg < 12:
            return (
                "ALTER TYPE … ADD VALUE cannot run inside a transaction block before PostgreSQL 12"
            )
        if op.name:
            added: list[_Added] = ctx.rule_state.setdefault(_ID, [])
            added.append(_Added(ctx.tx_number, _literal(op.name), op.table or ""))
        return None
    # PostgreSQL 12+: only *using* the new value before COMMIT fails ("unsafe use of new value")
    for value in ctx.rule_state.get(_ID, ()):
        used = value.tx == ctx.tx_number and value.literal in stmt.text
        if used and ctx.first_time(f"{_ID}:{id(stmt)}:{value.literal}"):
            return (
                f"uses {value.literal}, added to {value.enum} earlier in the same "
                "transaction: PostgreSQL refuses a new enum value until the transaction "
                "that added it commits"
            )
    return None


RULE = Rule(
    id=_ID,
    severity="warning",
    summary="a new enum value used in the transaction that adds it (any ADD VALUE in a "
    "transaction before PostgreSQL 12)",
    why="From PostgreSQL 12 on, ALTER TYPE … ADD VALUE may run in a transaction block, but the new "
    "value cannot be used (inserted, compared, set as a default) until that transaction commits: "
    "the statement that uses it fails with 'unsafe use of new value'. Reported at the statement "
    "that mentions the value as a string literal; an ADD VALUE whose value is not used before "
    "COMMIT is fine. Before PostgreSQL 12 ADD VALUE fails inside any transaction block. Not "
    "reported for an enum type created in the same transaction.",
    suggestion="Commit the ADD VALUE before using the value: put it in its own migration or "
    "transaction (ec sql operation), and the statements that use it in a later one.",
    equivalents={},
    check=check,
    bad="BEGIN;\nALTER TYPE mood ADD VALUE 'meh' BEFORE 'ok';\n"
    "UPDATE person SET current_mood = 'meh' WHERE current_mood IS NULL;\nCOMMIT;",
    good="BEGIN;\nALTER TYPE mood ADD VALUE 'meh' BEFORE 'ok';\nCOMMIT;",
)
