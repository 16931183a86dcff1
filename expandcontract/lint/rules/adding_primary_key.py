from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing, locks
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind != K.ADD_CONSTRAINT or op.detail.get("type") != "primary_key" or op.using_index:
        return None
    if not existing(op, ctx):
        return None
    return f"ADD PRIMARY KEY builds its index (and may SET NOT NULL) while it {locks(op)}"


RULE = Rule(
    id="adding-primary-key",
    severity="error",
    summary="ADD PRIMARY KEY without USING INDEX on an existing table",
    why="ADD PRIMARY KEY builds a unique index under ACCESS EXCLUSIVE and scans nullable columns "
    "for an implicit SET NOT NULL.",
    suggestion="CREATE UNIQUE INDEX CONCURRENTLY, make the columns NOT NULL safely, then ADD "
    "CONSTRAINT … PRIMARY KEY USING INDEX (ec create_index + alter_column).",
    equivalents={
        "squawk": ["adding-serial-primary-key-field"],
        "atlas": ["PG104"],
        "eugene": ["W14"],
    },
    check=check,
    kinds=frozenset({K.ADD_CONSTRAINT}),
    bad="ALTER TABLE users ADD PRIMARY KEY (id);",
    good="ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY USING INDEX users_id_idx;",
)
