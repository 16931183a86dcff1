from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing, locks
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind != K.ADD_CONSTRAINT or op.detail.get("type") != "unique" or op.using_index:
        return None
    if not existing(op, ctx):
        return None
    return f"ADD UNIQUE builds its index while it {locks(op)}"


RULE = Rule(
    id="disallowed-unique-constraint",
    severity="error",
    summary="ADD CONSTRAINT … UNIQUE without USING INDEX",
    why="ADD UNIQUE builds a unique index under ACCESS EXCLUSIVE: no reads or writes until done.",
    suggestion="CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT … UNIQUE USING INDEX "
    "(ec create_index with unique: true, attached in contract).",
    equivalents={
        "squawk": ["disallowed-unique-constraint"],
        "strong_migrations": ["add_unique_constraint"],
        "atlas": ["PG105"],
        "eugene": ["E7"],
    },
    check=check,
    kinds=frozenset({K.ADD_CONSTRAINT}),
    bad="ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
    good="ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_idx;",
)
