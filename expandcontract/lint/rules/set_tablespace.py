from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing, locks
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.SET_TABLESPACE and existing(op, ctx):
        return f"SET TABLESPACE {op.name} copies the table's files while it {locks(op)}"
    return None


RULE = Rule(
    id="set-tablespace",
    severity="error",
    summary="ALTER TABLE … SET TABLESPACE on an existing table",
    why="Moving a table to another tablespace copies every data file under an ACCESS EXCLUSIVE "
    "lock.",
    suggestion="Use pg_repack --tablespace, or a new table plus ec backfill and a rename "
    "(ec create_table, ec backfill, rename_table).",
    equivalents={},
    check=check,
    kinds=frozenset({K.SET_TABLESPACE}),
    bad="ALTER TABLE users SET TABLESPACE fastspace;",
    good="CREATE TABLE users2 (id bigint) TABLESPACE fastspace;",
)
