from __future__ import annotations

import re

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing, locks
from expandcontract.lint.rules.base import Rule

# Changes PostgreSQL makes without a rewrite (binary coercible); checked on the new type only,
# the old type is unknown to a static linter, so only the always-safe targets pass.
_SAFE_TARGETS = re.compile(r"^(text|varchar|character varying|citext)$")


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind != K.ALTER_TYPE or not existing(op, ctx):
        return None
    new_type = op.detail.get("new_type", "")
    if _SAFE_TARGETS.match(new_type) and not op.detail.get("using"):
        return None
    name = op.column.name if op.column else "?"
    return (
        f"ALTER COLUMN {name} TYPE {new_type} rewrites the table and its indexes unless the "
        f"change is binary coercible; it {locks(op)}"
    )


RULE = Rule(
    id="changing-column-type",
    severity="error",
    summary="ALTER COLUMN … TYPE on an existing table",
    why="Most type changes rewrite the table and rebuild every index under ACCESS EXCLUSIVE, and "
    "clients reading the old type may break.",
    suggestion="Use ec operation alter_column with type, up and down: a new column, dual writes, "
    "ec backfill, then a contract-phase swap.",
    equivalents={
        "squawk": ["changing-column-type"],
        "strong_migrations": ["change_column"],
        "atlas": ["PG301"],
        "eugene": ["E5"],
    },
    check=check,
    kinds=frozenset({K.ALTER_TYPE}),
    bad="ALTER TABLE orders ALTER COLUMN amount TYPE bigint;",
    good="ALTER TABLE orders ALTER COLUMN note TYPE text;",
)
