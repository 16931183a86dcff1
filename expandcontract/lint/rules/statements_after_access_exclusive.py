from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.locks import AEL
from expandcontract.lint.rules.base import Rule

_ENDS = {K.COMMIT, K.ROLLBACK, K.SAVEPOINT, K.SET, K.HARMLESS}
# catalog-only changes: no scan, no rewrite, no lock on any other relation
_INSTANT = {K.RENAME_COLUMN, K.SET_DEFAULT, K.DROP_DEFAULT, K.DROP_NOT_NULL, K.CREATE_TRIGGER}


def _instant_on_held(op: Op, ctx: Context) -> bool:
    """A catalog-only change to a table this transaction already holds ACCESS EXCLUSIVE on, or
    to no relation at all, adds no lock and only microseconds to the hold: no longer outage."""
    if op.origin:
        return False
    if op.kind == K.CREATE_FUNCTION or (
        op.kind == K.DROP
        and op.detail.get("object") in ("FUNCTION", "PROCEDURE")
        and not op.cascade
    ):
        return True  # catalog-only, locks no relation (CASCADE could drop triggers elsewhere)
    if not op.table or ctx.held.get(op.table) != AEL:
        return False
    if op.kind in _INSTANT:
        return True
    if op.kind == K.DROP_COLUMN and not op.cascade:
        return True  # marks the column dropped in the catalog; the table is not rewritten
    if op.kind == K.DROP and op.detail.get("object") == "TRIGGER" and not op.cascade:
        return True  # a trigger of a table already locked: catalog rows only
    if op.kind == K.SET_NOT_NULL and op.column:  # proved by a valid CHECK: no scan (PG 12+)
        return ctx.pg >= 12 and ctx.proven_not_null(op.table, op.column.name)
    # a CHECK this file added: dropping it touches no other table (a foreign key would)
    return op.kind == K.DROP_CONSTRAINT and op.name in ctx.checks_on.get(op.table, set())


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    first = ctx.ael_statement
    if first is None or first is stmt or not ctx.in_transaction or op.kind in _ENDS:
        return None
    if _instant_on_held(op, ctx):
        return None
    if not ctx.first_time(f"after-ael:{id(stmt)}"):
        return None
    taken_by = " ".join(first.text.split())[:60]
    return (
        f"this statement runs while the transaction still holds the ACCESS EXCLUSIVE lock "
        f"taken by `{taken_by}` (all reads and writes of that table wait until COMMIT)"
    )


RULE = Rule(
    id="statements-after-access-exclusive",
    severity="warning",
    summary="more statements after an ACCESS EXCLUSIVE lock in the same transaction",
    why="Locks are held until COMMIT: anything after a statement that took ACCESS EXCLUSIVE on a "
    "busy table extends the outage by its own duration.",
    suggestion="Give each lock-taking DDL its own short transaction; run data changes with "
    "ec backfill outside it.",
    equivalents={"eugene": ["E4"]},
    check=check,
    bad="BEGIN;\nALTER TABLE users ADD COLUMN note text;\nCREATE INDEX CONCURRENTLY x ON a (b);\n"
    "UPDATE users SET note = '' WHERE id < 10;\nCOMMIT;",
    good="BEGIN;\nALTER TABLE users ADD COLUMN note text;\nCOMMIT;",
)
