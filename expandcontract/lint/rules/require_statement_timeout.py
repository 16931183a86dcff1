from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import Op, Statement
from expandcontract.lint.locks import SHARE
from expandcontract.lint.rules._util import waiting_locks
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if ctx.statement_timeout or not waiting_locks(op, ctx, SHARE):
        return None
    if not ctx.first_time("require-statement-timeout"):
        return None
    return "no statement_timeout is set: a slow statement holding this lock runs unbounded"


RULE = Rule(
    id="require-statement-timeout",
    severity="warning",
    summary="lock-taking DDL without a prior SET statement_timeout",
    why="Without a statement timeout a rewrite or scan that turns out slow holds its lock for as "
    "long as it takes.",
    suggestion="SET statement_timeout = '…' before the DDL; ec sets it for every step.",
    equivalents={"squawk": ["require-statement-timeout", "require-timeout-settings"]},
    check=check,
    bad="SET lock_timeout = '1s';\nALTER TABLE users ADD COLUMN note text;",
    good="SET statement_timeout = '5s';\nALTER TABLE users ADD COLUMN note text;",
)
