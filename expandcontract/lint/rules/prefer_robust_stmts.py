from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import Rule

_NEEDS_GUARD = {
    K.CREATE_TABLE: "IF NOT EXISTS",
    K.CREATE_INDEX: "IF NOT EXISTS",
    K.DROP_INDEX: "IF EXISTS",
    K.DROP: "IF EXISTS",
    K.ADD_COLUMN: "IF NOT EXISTS",
    K.DROP_COLUMN: "IF EXISTS",
    K.DROP_CONSTRAINT: "IF EXISTS",
}


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    guard = _NEEDS_GUARD.get(op.kind)
    if guard is None or op.if_exists or ctx.in_transaction or op.origin:
        return None
    return (
        f"{_what(op)} without {guard} outside a transaction: if the migration fails after it, "
        "re-running fails here"
    )


def _what(op: Op) -> str:
    """The action and what it names, so that several actions of one statement read apart."""
    if op.kind == K.ADD_COLUMN and op.column is not None:
        return f"ADD COLUMN {op.table}.{op.column.name}"
    if op.kind == K.DROP_COLUMN:
        return f"DROP COLUMN {op.table}.{op.name}"
    if op.kind == K.DROP_CONSTRAINT:
        return f"DROP CONSTRAINT {op.name} ON {op.table}"
    if op.kind in (K.CREATE_INDEX, K.DROP_INDEX):
        return f"{op.kind.replace('_', ' ').upper()} {op.name or ''}".rstrip()
    if op.kind == K.DROP:
        on = f"{op.name} ON {op.table}" if op.detail.get("on") else op.table
        return f"DROP {op.detail.get('object', '')} {on}"
    return f"CREATE TABLE {op.table}"


RULE = Rule(
    id="prefer-robust-stmts",
    severity="info",
    summary="non-idempotent DDL in a file that does not run in a transaction",
    why="Without a transaction, a failure leaves earlier statements applied; the retry then fails"
    " on 'already exists' / 'does not exist'.",
    suggestion="Use IF [NOT] EXISTS; ec records each step in its ledger and resumes instead.",
    equivalents={"squawk": ["prefer-robust-stmts"]},
    check=check,
    kinds=frozenset(_NEEDS_GUARD),
    bad="CREATE INDEX CONCURRENTLY users_email_idx ON users (email);",
    good="CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);",
)
