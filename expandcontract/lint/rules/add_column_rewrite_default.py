from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._size import graded
from expandcontract.lint.rules._util import existing, locks
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    col = op.column
    if op.kind != K.ADD_COLUMN or col is None or col.default is None or not existing(op, ctx):
        return None
    if col.volatile_default:
        return graded(
            f"ADD COLUMN {col.name} DEFAULT {col.default}: a volatile default rewrites "
            f"every row; the rewrite {locks(op)}",
            op,
            ctx,
            "the rewrite",
        )
    if ctx.pg < 11:
        return graded(
            f"ADD COLUMN {col.name} with a DEFAULT rewrites the table before PostgreSQL 11; "
            f"the rewrite {locks(op)}",
            op,
            ctx,
            "the rewrite",
        )
    return None


RULE = Rule(
    id="add-column-rewrite-default",
    severity="error",
    summary="ADD COLUMN with a volatile default (or any default before PG 11)",
    why="A volatile DEFAULT (random(), gen_random_uuid(), clock_timestamp(), an unknown function)"
    " — or any DEFAULT before PostgreSQL 11 — rewrites the whole table under ACCESS EXCLUSIVE.",
    suggestion="Add the column without the default, SET DEFAULT for new rows, then fill old rows "
    "with ec backfill (ec operation add_column with up: does all three).",
    equivalents={
        "squawk": ["adding-field-with-default"],
        "strong_migrations": ["add_column_default", "add_column_default_callable"],
        "atlas": ["PG302"],
    },
    check=check,
    kinds=frozenset({K.ADD_COLUMN}),
    bad="ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();",
    good="ALTER TABLE users ADD COLUMN status text DEFAULT 'active';",
)
