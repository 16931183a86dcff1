from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._size import graded
from expandcontract.lint.rules._util import existing, locks
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind != K.SET_NOT_NULL or not existing(op, ctx) or op.column is None:
        return None
    if ctx.pg >= 12 and op.table and ctx.proven_not_null(op.table, op.column.name):
        return None
    alt = (
        "ADD CONSTRAINT … NOT NULL … NOT VALID then VALIDATE"
        if ctx.pg >= 18
        else "a CHECK (… IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL"
    )
    message = f"SET NOT NULL on {op.column.name} scans the whole table while it {locks(op)}"
    return graded(f"{message}; use {alt}", op, ctx, "the scan")


RULE = Rule(
    id="set-not-null",
    severity="error",
    summary="ALTER COLUMN … SET NOT NULL without a validated CHECK proving it",
    why="SET NOT NULL scans every row under ACCESS EXCLUSIVE. On PostgreSQL 12+ a validated "
    "CHECK (col IS NOT NULL) lets it skip the scan; PostgreSQL 18 has NOT NULL … NOT VALID.",
    suggestion="Use ec operation alter_column with nullable: false (CHECK NOT VALID in expand, "
    "ec backfill, VALIDATE and SET NOT NULL in contract).",
    equivalents={
        "squawk": ["adding-not-nullable-field"],
        "strong_migrations": ["change_column_null_postgresql", "change_column_null"],
        "atlas": ["PG303", "MF104"],
        "eugene": ["E2"],
    },
    check=check,
    kinds=frozenset({K.SET_NOT_NULL}),
    bad="ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
    good="ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;\n"
    "ALTER TABLE users VALIDATE CONSTRAINT users_email_nn;\n"
    "ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
)
