from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import Rule

_KINDS = {K.CREATE_INDEX, K.DROP_INDEX, K.REINDEX, K.DETACH_PARTITION}


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind not in _KINDS or not op.concurrently or not ctx.in_transaction:
        return None
    what = op.kind.replace("_", " ").upper()
    return f"{what} CONCURRENTLY cannot run inside a transaction block; the migration will fail"


RULE = Rule(
    id="concurrently-in-transaction",
    severity="error",
    summary="CONCURRENTLY operation inside a transaction",
    why="CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY and DETACH PARTITION CONCURRENTLY "
    "raise 'cannot run inside a transaction block', failing the migration midway.",
    suggestion="Put the statement in its own non-transactional migration (ec runs create_index "
    "and drop_index outside a transaction automatically).",
    equivalents={
        "squawk": ["ban-concurrent-index-creation-in-transaction"],
        "atlas": ["PG103", "TX101"],
    },
    check=check,
    kinds=frozenset(_KINDS),
    bad="BEGIN;\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);\nCOMMIT;",
    good="CREATE INDEX CONCURRENTLY users_email_idx ON users (email);",
)
