from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import Op, Statement
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if stmt.unparsed_reason and op is stmt.ops[0]:
        return f"cannot parse this statement: {stmt.unparsed_reason}"
    return None


RULE = Rule(
    id="syntax-error",
    severity="error",
    summary="statement that does not parse",
    why="A statement that does not parse will fail the migration, or hides what it does.",
    suggestion="Fix the SQL.",
    equivalents={"squawk": ["syntax-error"]},
    check=check,
    bad="CREATE TABLE broken (id int;",
    good="CLUSTER;",
)
