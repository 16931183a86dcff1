from __future__ import annotations

from expandcontract.lint.catalog import new_type_of
from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.pgtypes import PgType
from expandcontract.lint.rules._coercion import VARCHAR, rewrites
from expandcontract.lint.rules._size import Graded, graded, table_facts
from expandcontract.lint.rules._util import existing, locks
from expandcontract.lint.rules.base import Rule

# Targets that are binary coercible from *some* old types (varchar/text): without the old
# type they may or may not rewrite, so the finding says so instead of guessing.
_MAYBE_SAFE = frozenset({PgType("text"), PgType(VARCHAR)})
UNKNOWN_OLD = "old type unknown: lint with --database-url to know whether this rewrites"


def old_type(op: Op, ctx: Context) -> PgType | None:
    """The column's type before this statement: set earlier in this file, else the catalog's."""
    if not op.table or op.column is None:
        return None
    written = ctx.schema.written_type(op.table, op.column.name)
    if written is not None or ctx.catalog is None:
        return written
    key, _ = table_facts(op, ctx)
    return ctx.catalog.columns.get((key, op.column.name))


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind != K.ALTER_TYPE or not existing(op, ctx) or op.column is None:
        return None
    new = new_type_of(op)
    shown = op.detail.get("new_type", "") or str(new or "?")
    head = f"ALTER COLUMN {op.column.name} TYPE {shown}"
    old = old_type(op, ctx)
    using = bool(op.detail.get("using"))
    if old is None or new is None:
        if new is not None and new.storage in _MAYBE_SAFE and not using:
            if ctx.catalog is None:
                return Graded(f"{head}: {UNKNOWN_OLD}", "info")
            missing = f"column {op.column.name} is not in the database, so its old type is unknown"
            return graded(f"{head}: {missing}", op, ctx, "the rewrite")
        return graded(
            f"{head} rewrites the table and its indexes unless the change is binary "
            f"coercible ({UNKNOWN_OLD if ctx.catalog is None else 'old type unknown'}); "
            f"it {locks(op)}",
            op,
            ctx,
            "the rewrite",
        )
    server = ctx.catalog.server_major if ctx.catalog else ctx.pg
    timezone = ctx.catalog.timezone if ctx.catalog else ""
    if not using and not rewrites(old, new, server_major=server, timezone=timezone):
        return None
    return graded(
        f"{head} changes {old} to {new}{' with USING' if using else ''}: it rewrites the "
        f"table and its indexes (not binary coercible) and {locks(op)}",
        op,
        ctx,
        "the rewrite",
    )


RULE = Rule(
    id="changing-column-type",
    severity="error",
    summary="ALTER COLUMN … TYPE that rewrites an existing table",
    why="Most type changes rewrite the table and rebuild every index under ACCESS EXCLUSIVE, and "
    "clients reading the old type may break. A few are binary coercible and only touch the "
    "catalog (varchar(n) -> varchar(m >= n) or text, numeric(p,s) -> numeric(q >= p,s)); with "
    "--database-url ec knows the old type, without it a change to text says so.",
    suggestion="Use ec operation alter_column with type, up and down: a new column, dual writes, "
    "ec backfill, then a contract-phase swap, e.g. `alter_column: {table: orders, column: "
    'amount, type: bigint, up: "amount::bigint", down: "amount::integer"}`. An integer '
    "primary key or identity column widens to bigint the same way (up and down optional).",
    equivalents={
        "squawk": ["changing-column-type"],
        "strong_migrations": ["change_column"],
        "atlas": ["PG301"],
        "eugene": ["E5"],
    },
    check=check,
    kinds=frozenset({K.ALTER_TYPE}),
    bad="ALTER TABLE orders ALTER COLUMN amount TYPE bigint;",
    good="ALTER TABLE orders ADD COLUMN note varchar(200);\n"
    "ALTER TABLE orders ALTER COLUMN note TYPE text;",
)
