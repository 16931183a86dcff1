from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.locks import AEL, SRE, STRENGTH, referenced_tables
from expandcontract.lint.pgtypes import SERIALS
from expandcontract.lint.rules.base import Rule

_ID = "statements-after-access-exclusive"
# statements that take no lock, or only a catalog lock held for microseconds
_NO_LOCK = {K.BEGIN, K.COMMIT, K.ROLLBACK, K.SAVEPOINT, K.SET, K.HARMLESS, K.CREATE_FUNCTION}
_CATALOG_ONLY = {K.ENUM_ADD_VALUE, K.CREATE_DOMAIN}
# catalog-only changes of a table: no scan, no rewrite, no lock on any other relation
_INSTANT = {
    K.RENAME_COLUMN,
    K.SET_DEFAULT,
    K.DROP_DEFAULT,
    K.DROP_NOT_NULL,
    K.CREATE_TRIGGER,
    K.OTHER_TABLE_ALTER,
    K.SET_STORAGE,
    K.REPLICA_IDENTITY,
}
_DATA = {K.INSERT, K.UPDATE, K.DELETE, K.SELECT, K.CREATE_MATVIEW, K.REFRESH_MATVIEW}


@dataclass
class _Hold:
    """One transaction's ACCESS EXCLUSIVE hold and the statements that lengthen it."""

    taken_by: Statement
    statements: list[Statement] = field(default_factory=list)


def _holds_at_least(ctx: Context, table: str, lock: str) -> bool:
    held = ctx.held.get(table)
    return held is not None and STRENGTH.index(held) >= STRENGTH.index(lock)


def _new_or_held(ctx: Context, tables: list[str]) -> bool:
    return all(ctx.is_new(t) or _holds_at_least(ctx, t, SRE) for t in tables)


def _instant_add_column(op: Op, ctx: Context) -> bool:
    col = op.column
    if col is None or col.volatile_default or col.generated_stored or col.identity:
        return False
    if col.unique or col.primary_key or col.references:
        return False  # builds an index, or locks the referenced table
    if col.pgtype is not None and col.pgtype.name in SERIALS:
        return False  # a sequence default: every row is written
    return ctx.pg >= 11 or col.default is None  # a stored default is catalog-only from PG 11


def _brief(op: Op, ctx: Context) -> bool:
    """The op adds no lock a query could be waiting on and only microseconds to the hold."""
    if op.origin:
        return False  # a DO block / function body may do anything
    if op.kind in _NO_LOCK or op.kind in _CATALOG_ONLY:
        return True
    if op.kind == K.DROP and op.detail.get("object") in ("FUNCTION", "PROCEDURE"):
        return not op.cascade  # CASCADE could drop triggers of other tables
    if op.kind == K.RENAME_OBJECT and op.detail.get("object") not in ("VIEW", "SEQUENCE"):
        return op.detail.get("object") != "CONSTRAINT" or _holds_at_least(ctx, op.table or "", AEL)
    if op.kind == K.CREATE_TABLE:
        return _new_or_held(ctx, referenced_tables(op))
    if op.kind in _DATA or not op.table:
        return False
    if ctx.is_new(op.table):  # a table of this transaction: nobody else can be waiting for it
        return _new_or_held(ctx, referenced_tables(op))
    if not _holds_at_least(ctx, op.table, AEL):
        return False
    return _instant_on_held(op, ctx)


def _instant_on_held(op: Op, ctx: Context) -> bool:
    table = op.table or ""
    if op.kind in _INSTANT:
        return True
    if op.kind == K.ADD_COLUMN:
        return _instant_add_column(op, ctx)
    if op.kind == K.DROP_COLUMN and not op.cascade:
        return True  # marks the column dropped in the catalog; the table is not rewritten
    if op.kind == K.DROP and op.detail.get("object") == "TRIGGER" and not op.cascade:
        return True  # a trigger of a table already locked: catalog rows only
    if op.kind == K.SET_NOT_NULL and op.column:  # proved by a valid CHECK: no scan (PG 12+)
        return ctx.pg >= 12 and ctx.proven_not_null(table, op.column.name)
    # a CHECK this file added: dropping it touches no other table (a foreign key would)
    return op.kind == K.DROP_CONSTRAINT and op.name in ctx.checks_on.get(table, set())


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    """Collects; ``finish`` reports once per transaction, when the count is known."""
    first = ctx.ael_statement
    if first is None or first is stmt or not ctx.in_transaction or _brief(op, ctx):
        return None
    holds: dict[int, _Hold] = ctx.rule_state.setdefault(_ID, {})
    hold = holds.setdefault(ctx.tx_number, _Hold(first))
    if not hold.statements or hold.statements[-1] is not stmt:
        hold.statements.append(stmt)
    return None


def finish(ctx: Context) -> Iterator[tuple[Statement | None, str]]:
    holds: dict[int, _Hold] = ctx.rule_state.get(_ID, {})
    for hold in holds.values():
        taken_by = " ".join(hold.taken_by.text.split())[:60]
        more = len(hold.statements) - 1
        who = f"this statement and {more} more after it run" if more else "this statement runs"
        yield (
            hold.statements[0],
            f"{who} while the transaction still holds the ACCESS EXCLUSIVE "
            f"lock taken by `{taken_by}` (all reads and writes of "
            "that table wait until COMMIT)",
        )


RULE = Rule(
    id=_ID,
    severity="warning",
    summary="more statements after an ACCESS EXCLUSIVE lock in the same transaction",
    why="Locks are held until COMMIT: anything after a statement that took ACCESS EXCLUSIVE on a "
    "busy table extends the outage by its own duration. Reported once per transaction, at the "
    "first such statement, with how many follow. Not counted: statements that take no lock or "
    "only a catalog lock for microseconds (SET, COMMENT, GRANT, CREATE VIEW, CREATE FUNCTION, "
    "ADD VALUE), catalog-only changes of the locked table itself (RENAME COLUMN, DROP COLUMN, "
    "SET/DROP DEFAULT, a plain ADD COLUMN, …) and work on tables created in the same file.",
    suggestion="Give each lock-taking DDL its own short transaction; run data changes with "
    "ec backfill outside it.",
    equivalents={"eugene": ["E4"]},
    check=check,
    finish=finish,
    bad="BEGIN;\nALTER TABLE users ADD COLUMN note text;\nCREATE INDEX CONCURRENTLY x ON a (b);\n"
    "UPDATE users SET note = '' WHERE id < 10;\nCOMMIT;",
    good="BEGIN;\nALTER TABLE users ADD COLUMN note text;\nCOMMIT;",
)
