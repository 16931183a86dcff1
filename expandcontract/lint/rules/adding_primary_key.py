from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing, locks
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if not existing(op, ctx):
        return None
    if op.kind == K.ADD_COLUMN and op.column is not None and op.column.primary_key:
        return (
            f"ADD COLUMN {op.column.name} … PRIMARY KEY builds a unique index over every existing "
            f"row while it {locks(op)}"
        )
    if op.kind != K.ADD_CONSTRAINT or op.detail.get("type") != "primary_key" or op.using_index:
        return None
    return f"ADD PRIMARY KEY builds its index (and may SET NOT NULL) while it {locks(op)}"


RULE = Rule(
    id="adding-primary-key",
    severity="error",
    summary="ADD PRIMARY KEY without USING INDEX, or ADD COLUMN … PRIMARY KEY, on an existing "
    "table",
    why="ADD PRIMARY KEY builds a unique index under ACCESS EXCLUSIVE and scans nullable columns "
    "for an implicit SET NOT NULL.",
    suggestion="Use ec operation create_constraint: it builds the unique index CONCURRENTLY, "
    "proves the columns NOT NULL with a validated CHECK, then attaches the key USING INDEX "
    "(catalog-only), e.g. `create_constraint: {table: users, name: users_pkey, type: "
    "primary_key, columns: [id]}`. By hand: CREATE UNIQUE INDEX CONCURRENTLY, SET NOT NULL "
    "behind a validated CHECK, then ADD CONSTRAINT … PRIMARY KEY USING INDEX.",
    equivalents={
        "squawk": ["adding-serial-primary-key-field"],
        "atlas": ["PG104"],
        "eugene": ["W14"],
    },
    check=check,
    kinds=frozenset({K.ADD_CONSTRAINT, K.ADD_COLUMN}),
    bad="ALTER TABLE users ADD PRIMARY KEY (id);",
    good="ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY USING INDEX users_id_idx;",
)
