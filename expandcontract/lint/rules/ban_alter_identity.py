from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind != K.ALTER_IDENTITY or not existing(op, ctx):
        return None
    if "ADD" in op.detail.get("action", ""):
        return None  # add-column-serial reports adding an identity
    name = op.column.name if op.column else "?"
    return f"changing the identity of {name} changes how running inserts get their ids"


RULE = Rule(
    id="ban-alter-identity",
    severity="warning",
    summary="ALTER COLUMN … SET/DROP IDENTITY, RESTART",
    why="Inserts from deployed code may start failing or get conflicting ids.",
    suggestion="Change identity in a contract phase after verifying every writer (ec sql on: "
    "contract).",
    equivalents={"squawk": ["ban-alter-identity"]},
    check=check,
    kinds=frozenset({K.ALTER_IDENTITY}),
    bad="ALTER TABLE users ALTER COLUMN id DROP IDENTITY;",
    good="CREATE TABLE t (id int GENERATED ALWAYS AS IDENTITY);\n"
    "ALTER TABLE t ALTER COLUMN id DROP IDENTITY;",
)
