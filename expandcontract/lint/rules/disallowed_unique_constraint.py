from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing, locks
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if not existing(op, ctx):
        return None
    if op.kind == K.ADD_COLUMN and op.column is not None and op.column.unique:
        # the new column's index is built over every existing row, under the ADD COLUMN's lock
        return f"ADD COLUMN {op.column.name} … UNIQUE builds a unique index while it {locks(op)}"
    if op.kind != K.ADD_CONSTRAINT or op.detail.get("type") != "unique" or op.using_index:
        return None
    named = f" {op.name}" if op.name else ""
    return f"ADD CONSTRAINT{named} UNIQUE builds its index while it {locks(op)}"


RULE = Rule(
    id="disallowed-unique-constraint",
    severity="error",
    summary="ADD CONSTRAINT … UNIQUE without USING INDEX, or ADD COLUMN … UNIQUE",
    why="ADD UNIQUE builds a unique index under ACCESS EXCLUSIVE: no reads or writes until done.",
    suggestion="Use ec operation create_constraint with type: unique: it builds the unique "
    "index CONCURRENTLY and attaches it USING INDEX (catalog-only), e.g. `create_constraint: "
    "{table: users, name: users_email_key, type: unique, columns: [email]}` (one column: "
    "alter_column with `unique: {name: …}`). By hand: CREATE UNIQUE INDEX CONCURRENTLY, then "
    "ADD CONSTRAINT … UNIQUE USING INDEX.",
    equivalents={
        "squawk": ["disallowed-unique-constraint"],
        "strong_migrations": ["add_unique_constraint"],
        "atlas": ["PG105"],
        "eugene": ["E7"],
    },
    check=check,
    kinds=frozenset({K.ADD_CONSTRAINT, K.ADD_COLUMN}),
    bad="ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
    good="ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_idx;",
)
