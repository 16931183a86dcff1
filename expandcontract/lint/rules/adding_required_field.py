from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._size import Graded, table_facts
from expandcontract.lint.rules._util import existing
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    col = op.column
    if op.kind != K.ADD_COLUMN or col is None or not existing(op, ctx):
        return None
    if col.not_null and col.default is None and not col.generated_stored and not col.identity:
        message = f"ADD COLUMN {col.name} NOT NULL without DEFAULT"
        if ctx.catalog is None:
            return (
                f"{message} fails on a non-empty table, and the old version's INSERTs fail "
                "once it exists"
            )
        return _with_size(message, op, ctx)
    return None


def _with_size(message: str, op: Op, ctx: Context) -> str:
    """On an empty table the statement works and only the old code's INSERTs break; on a
    table with rows PostgreSQL rejects it."""
    name, facts = table_facts(op, ctx)
    if facts is None:
        return Graded(
            f"{message}: {op.table} is not in the database (created by a migration not applied "
            "there yet?); it fails if the table has rows, and the old version's INSERTs fail "
            "once it exists",
            "warning",
        )
    if facts.heap_bytes == 0:
        return Graded(
            f"{message}: {name} is empty in the database, so it succeeds, but the old "
            "version's INSERTs fail once it exists",
            "warning",
        )
    return Graded(f"{message} fails: {name} has rows, and PostgreSQL rejects it", "error")


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
