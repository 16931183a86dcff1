from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import locks
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.REFRESH_MATVIEW and not op.concurrently and not ctx.is_new(op.table):
        return f"REFRESH MATERIALIZED VIEW without CONCURRENTLY {locks(op)} for the whole refresh"
    return None


RULE = Rule(
    id="refresh-matview-concurrently",
    severity="warning",
    summary="REFRESH MATERIALIZED VIEW without CONCURRENTLY",
    why="A plain refresh holds ACCESS EXCLUSIVE on the view: every query reading it waits.",
    suggestion="Give the view a unique index and use REFRESH MATERIALIZED VIEW CONCURRENTLY "
    "(ec sql operation).",
    equivalents={},
    check=check,
    kinds=frozenset({K.REFRESH_MATVIEW}),
    bad="REFRESH MATERIALIZED VIEW user_stats;",
    good="REFRESH MATERIALIZED VIEW CONCURRENTLY user_stats;",
)
