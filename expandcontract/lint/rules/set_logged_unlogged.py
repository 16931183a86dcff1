from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing, locks
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.SET_LOGGED and existing(op, ctx):
        return f"SET {op.detail.get('mode', 'LOGGED')} rewrites the table; it {locks(op)}"
    return None


RULE = Rule(
    id="set-logged-unlogged",
    severity="error",
    summary="ALTER TABLE … SET LOGGED / SET UNLOGGED on an existing table",
    why="Switching persistence rewrites the table (and writes it all to WAL) under ACCESS "
    "EXCLUSIVE.",
    suggestion="Create the table with the right persistence and copy (ec create_table + "
    "ec backfill + rename_table).",
    equivalents={"atlas": ["PG307"]},
    check=check,
    kinds=frozenset({K.SET_LOGGED}),
    bad="ALTER TABLE events SET LOGGED;",
    good="CREATE UNLOGGED TABLE events_tmp (id bigint);",
)
