from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing, locks, where
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind != K.CREATE_INDEX or op.concurrently or not existing(op, ctx):
        return None
    if op.detail.get("only"):  # CREATE INDEX ON ONLY parent is catalog-only by design
        return None
    return f"CREATE INDEX without CONCURRENTLY {locks(op)} for the whole build{where(op)}"


RULE = Rule(
    id="require-concurrent-index-creation",
    severity="error",
    summary="CREATE INDEX on an existing table without CONCURRENTLY",
    why="A plain CREATE INDEX holds a SHARE lock for the whole build: every INSERT, UPDATE and "
    "DELETE on the table waits until the index is built, minutes to hours on a big table.",
    suggestion="Use CREATE INDEX CONCURRENTLY IF NOT EXISTS outside a transaction (ec operation "
    "create_index does this and drops an INVALID leftover before retrying).",
    equivalents={
        "squawk": ["require-concurrent-index-creation"],
        "strong_migrations": ["add_index"],
        "atlas": ["PG101"],
        "eugene": ["E6"],
    },
    check=check,
    kinds=frozenset({K.CREATE_INDEX}),
    bad="CREATE INDEX users_email_idx ON users (email);",
    good="CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);",
)
