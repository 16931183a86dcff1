from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.locks import STRENGTH
from expandcontract.lint.rules._util import locks
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind != K.LOCK_TABLE or ctx.is_new(op.table):
        return None
    mode = op.detail.get("mode", "ACCESS EXCLUSIVE")
    if mode in STRENGTH and STRENGTH.index(mode) < STRENGTH.index("SHARE"):
        return None
    return f"LOCK TABLE {op.table} IN {mode} MODE {locks(op)} until the transaction ends"


RULE = Rule(
    id="lock-table",
    severity="warning",
    summary="explicit LOCK TABLE in SHARE mode or stronger",
    why="An explicit strong lock is held until COMMIT and queues every later query on the table.",
    suggestion="Drop the explicit lock; ec takes only the locks each step needs, with "
    "lock_timeout and capped retries.",
    equivalents={},
    check=check,
    kinds=frozenset({K.LOCK_TABLE}),
    bad="LOCK TABLE users IN ACCESS EXCLUSIVE MODE;",
    good="LOCK TABLE users IN ROW EXCLUSIVE MODE;",
)
