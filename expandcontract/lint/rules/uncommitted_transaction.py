from __future__ import annotations

from collections.abc import Iterable

from expandcontract.lint.context import Context
from expandcontract.lint.ir import Op, Statement
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    return None


def finish(ctx: Context) -> Iterable[tuple[Statement | None, str]]:
    if ctx.depth > 0 and ctx.begin_statement is not None:
        yield ctx.begin_statement, "BEGIN without a matching COMMIT: the changes are rolled back"


RULE = Rule(
    id="uncommitted-transaction",
    severity="error",
    summary="BEGIN without COMMIT",
    why="A transaction left open at the end of the file is rolled back when the session ends.",
    suggestion="Add COMMIT.",
    equivalents={"squawk": ["ban-uncommitted-transaction"]},
    check=check,
    finish=finish,
    bad="BEGIN;\nCREATE TABLE a (id int);",
    good="BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;",
)
