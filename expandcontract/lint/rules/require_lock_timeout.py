from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import Op, Statement
from expandcontract.lint.locks import SHARE
from expandcontract.lint.rules._util import waiting_locks
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if ctx.lock_timeout:
        return None
    found = waiting_locks(op, ctx, SHARE)
    if not found or not ctx.first_time("require-lock-timeout"):
        return None
    return (
        f"no lock_timeout is set before this statement, which {found[0]}: while it waits for"
        " its lock, every later query on the table queues behind it"
    )


RULE = Rule(
    id="require-lock-timeout",
    severity="warning",
    summary="lock-taking DDL without a prior SET lock_timeout",
    why="A DDL statement waiting in the lock queue blocks every query that arrives after it: a "
    "long-running SELECT turns a millisecond ALTER into an outage. Counted: a SHARE lock or "
    "stronger on a relation that existed before the file — the statement's own table, the "
    "table of the index for DROP INDEX, each table a foreign key references (SHARE ROW "
    "EXCLUSIVE, also from CREATE TABLE … REFERENCES), the view of CREATE OR REPLACE VIEW. "
    "Reported once per file.",
    suggestion="SET lock_timeout = '1s' (or SET LOCAL) first and retry on timeout; ec's "
    "SafeRunner does both for every ec operation.",
    equivalents={"squawk": ["require-lock-timeout", "require-timeout-settings"], "eugene": ["E9"]},
    check=check,
    bad="ALTER TABLE users ADD COLUMN note text;",
    good="SET lock_timeout = '1s';\nALTER TABLE users ADD COLUMN note text;",
)
