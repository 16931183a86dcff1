from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing, locks
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.SET_ACCESS_METHOD and existing(op, ctx):
        return f"SET ACCESS METHOD {op.name} rewrites the table; it {locks(op)}"
    return None


RULE = Rule(
    id="set-access-method",
    severity="error",
    summary="ALTER TABLE … SET ACCESS METHOD on an existing table",
    why="Changing the table access method rewrites every row under ACCESS EXCLUSIVE.",
    suggestion="Build a new table with the access method and copy (ec create_table + ec backfill).",
    equivalents={"atlas": ["PG311"]},
    check=check,
    kinds=frozenset({K.SET_ACCESS_METHOD}),
    bad="ALTER TABLE events SET ACCESS METHOD heap2;",
    good="CREATE TABLE events2 (id bigint) USING heap2;",
)
