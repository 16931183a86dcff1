from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing, locks
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    col = op.column
    if op.kind == K.ADD_COLUMN and col and col.identity and existing(op, ctx):
        return (
            f"ADD COLUMN {col.name} {col.type or 'identity'} fills every existing row from a "
            f"sequence: a full rewrite that {locks(op)}"
        )
    if op.kind == K.ALTER_IDENTITY and existing(op, ctx) and "ADD" in op.detail.get("action", ""):
        return f"ADD GENERATED … AS IDENTITY {locks(op)}"
    return None


RULE = Rule(
    id="add-column-serial",
    severity="error",
    summary="ADD COLUMN serial / bigserial / identity on an existing table",
    why="Filling an auto-increment column for every existing row rewrites the table under "
    "ACCESS EXCLUSIVE.",
    suggestion="Add a nullable bigint column with a sequence default for new rows and fill old "
    "rows with ec backfill, or build a new table and copy (ec create_table + backfill).",
    # squawk reports ADD COLUMN … identity as adding-field-with-default and a serial … PRIMARY
    # KEY as adding-serial-primary-key-field (ec: adding-primary-key); a plain serial not at all
    equivalents={
        "squawk": ["adding-field-with-default"],
        "strong_migrations": ["add_column_auto_incrementing"],
        "atlas": ["PG310"],
        "eugene": ["E11"],
    },
    check=check,
    kinds=frozenset({K.ADD_COLUMN, K.ALTER_IDENTITY}),
    bad="ALTER TABLE users ADD COLUMN seq_id bigserial;",
    good="ALTER TABLE users ADD COLUMN seq_id bigint;",
)
