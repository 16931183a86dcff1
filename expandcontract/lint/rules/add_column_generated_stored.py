from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing, locks
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    col = op.column
    if op.kind == K.ADD_COLUMN and col and col.generated_stored and existing(op, ctx):
        return f"ADD COLUMN {col.name} GENERATED … STORED rewrites the table; it {locks(op)}"
    return None


RULE = Rule(
    id="add-column-generated-stored",
    severity="error",
    summary="ADD COLUMN … GENERATED ALWAYS AS (…) STORED on an existing table",
    why="A stored generated column is computed for every existing row: a full rewrite under "
    "ACCESS EXCLUSIVE.",
    suggestion="Add a plain nullable column, keep it in sync with a trigger, fill old rows with "
    "ec backfill (ec operation add_column with up:).",
    equivalents={
        "squawk": ["adding-field-with-default"],
        "strong_migrations": ["add_column_generated_stored"],
        "atlas": ["PG309"],
        "eugene": ["E11"],
    },
    check=check,
    kinds=frozenset({K.ADD_COLUMN}),
    bad="ALTER TABLE orders ADD COLUMN total numeric GENERATED ALWAYS AS (price * qty) STORED;",
    good="ALTER TABLE orders ADD COLUMN total numeric;",
)
