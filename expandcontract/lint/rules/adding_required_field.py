from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    col = op.column
    if op.kind != K.ADD_COLUMN or col is None or not existing(op, ctx):
        return None
    if col.not_null and col.default is None and not col.generated_stored and not col.identity:
        return (
            f"ADD COLUMN {col.name} NOT NULL without DEFAULT fails on a non-empty table, and "
            "the old version's INSERTs fail once it exists"
        )
    return None


RULE = Rule(
    id="adding-required-field",
    severity="error",
    summary="ADD COLUMN … NOT NULL without a DEFAULT",
    why="PostgreSQL rejects it on a table with rows; on an empty one, every deployed INSERT that "
    "does not know the column starts failing.",
    suggestion="Use ec operation add_column with nullable: false and up: (nullable column, "
    "ec backfill, then NOT NULL in contract).",
    equivalents={"squawk": ["adding-required-field"], "atlas": ["MF103"]},
    check=check,
    kinds=frozenset({K.ADD_COLUMN}),
    bad="ALTER TABLE users ADD COLUMN tenant_id bigint NOT NULL;",
    good="ALTER TABLE users ADD COLUMN tenant_id bigint;",
)
