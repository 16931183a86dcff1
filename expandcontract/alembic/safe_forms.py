"""The lock-safe forms of Alembic operations, with the same end state as Alembic's own:

- ``create_index``: CREATE INDEX CONCURRENTLY outside the transaction, an INVALID leftover of a
  failed earlier build dropped first (it would make ``IF NOT EXISTS`` skip, and slows writes);
- foreign keys and checks: ADD ... NOT VALID (a short lock, no scan), then VALIDATE CONSTRAINT
  in a transaction of its own (scans under a lock that lets reads and writes go on);
- unique constraints: a unique index built CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX;
- ``alter_column(nullable=False)``: CHECK (col IS NOT NULL) NOT VALID, VALIDATE, SET NOT NULL
  (PostgreSQL 12+ skips its scan given the validated check), then the check is dropped.

Statements ec writes itself are quoted with psycopg.sql; those Alembic writes are compiled by
SQLAlchemy's PostgreSQL dialect, as without safe ops."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import sqlalchemy as sa
from alembic.operations import ops
from alembic.operations.schemaobj import SchemaObjects
from psycopg import sql
from sqlalchemy.schema import Table

from expandcontract.alembic.safe_runner import AlembicSafeRunner
from expandcontract.errors import ECError

_MAX_IDENT = 63
_INVALID_INDEX = sa.text(
    "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relname = :name AND n.nspname = coalesce(:schema, current_schema()) "
    "AND NOT i.indisvalid"
)
_CONSTRAINT_STATE = sa.text(
    "SELECT contype::text, convalidated FROM pg_constraint "
    "WHERE conname = :name AND conrelid = to_regclass(:table)"
)
_NOT_NULL_COLUMNS = sa.text(
    "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:table) "
    "AND attnum > 0 AND NOT attisdropped AND attnotnull"
)


def _ident(*parts: str | None) -> sql.Identifier:
    return sql.Identifier(*(p for p in parts if p))


def _text(statement: sql.Composable) -> str:
    return statement.as_string()


def _pg_name(*parts: str) -> str:
    """A name the way PostgreSQL makes one (``users_email_key``), cut to 63 bytes."""
    name = "_".join(parts)
    while len(name.encode()) > _MAX_IDENT:
        name = name[:-1]
    return name


# -- indexes ----------------------------------------------------------------------------------
def drop_invalid_leftover(runner: AlembicSafeRunner, schema: str | None, name: str) -> None:
    """Drop ``name`` if a failed CREATE INDEX CONCURRENTLY left it INVALID (a valid index of
    that name is left alone: building it again fails as it would without safe ops)."""
    drop = sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(_ident(schema, name))
    if runner.offline:
        runner.ctx.impl.static_output(
            f"-- ec.safe_ops: if a failed earlier run left the index {name} INVALID, "
            f"drop it first: {_text(drop)};"
        )
        return
    if runner.query(_INVALID_INDEX, name=name, schema=schema):
        runner.emit(_text(drop))


def create_index_concurrently(
    runner: AlembicSafeRunner, index: sa.Index, schema: str | None, **kw: Any
) -> None:
    index.dialect_options["postgresql"]["concurrently"] = True
    name = str(index.name)

    def build() -> None:
        drop_invalid_leftover(runner, schema, name)
        runner.ctx.impl.create_index(index, **kw)

    with runner.outside_transaction():
        try:
            runner.run(f"CREATE INDEX CONCURRENTLY {name}", build)
        except ECError as error:
            _undo(
                runner, error, f"DROP INDEX CONCURRENTLY {name} (INVALID leftover)",
                lambda: drop_invalid_leftover(runner, schema, name),
                f"the INVALID index {_text(_ident(schema, name))} it left",
                "a rerun drops it first",
            )  # fmt: skip
            raise


def _undo(
    runner: AlembicSafeRunner,
    error: ECError,
    description: str,
    work: Callable[[], object],
    leftover: str,
    how: str,
) -> None:
    """After a statement failed for good, take back what ec itself added before it, through
    the runner (lock_timeout, retries: the blocker that failed the statement may still be
    there). When that fails too, the error names the leftover and how to remove it."""
    if runner.offline:
        return
    try:
        runner.run(description, work)
    except ECError as cleanup:
        raise type(error)(
            f"{error.message}; ec could not remove {leftover} ({cleanup.message})",
            f"{error.hint + '; ' if error.hint else ''}remove {leftover} once the blocking "
            f"session is gone ({how})",
        ) from error


def create_index(runner: AlembicSafeRunner, operation: ops.CreateIndexOp) -> None:
    index = operation.to_index(runner.ctx)
    kw = {} if operation.if_not_exists is None else {"if_not_exists": operation.if_not_exists}
    create_index_concurrently(runner, index, operation.schema, **kw)


# -- constraints ------------------------------------------------------------------------------
def _table_ident(constraint: Any) -> sql.Identifier:
    table: Table = constraint.table
    return _ident(table.schema, table.name)


def add_constraint(runner: AlembicSafeRunner, constraint: Any) -> bool:
    """The safe form of one constraint; False when it has none (Alembic adds it as is)."""
    if isinstance(constraint, sa.UniqueConstraint):
        add_unique(runner, constraint)
        return True
    if isinstance(constraint, sa.PrimaryKeyConstraint):
        add_primary_key(runner, constraint)
        return True
    if not isinstance(constraint, sa.ForeignKeyConstraint | sa.CheckConstraint):
        return False
    options = constraint.dialect_options["postgresql"]
    if options["not_valid"]:
        return False  # the revision asked for NOT VALID itself: it validates when it wants
    table: Table = constraint.table
    if not constraint.name:  # VALIDATE needs the name: the one PostgreSQL would choose
        if isinstance(constraint, sa.ForeignKeyConstraint):
            constraint.name = _pg_name(table.name, *(c.name for c in constraint.columns), "fkey")
        else:
            constraint.name = _pg_name(table.name, "check")
    options["not_valid"] = True
    name = str(constraint.name)
    target = _table_ident(constraint)
    validate = sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(target, _ident(name))
    kind = "f" if isinstance(constraint, sa.ForeignKeyConstraint) else "c"
    with runner.outside_transaction():
        # a failed earlier run whose clean-up failed too left it NOT VALID: validate that one
        if not _not_valid_leftover(runner, target, name, kind):
            runner.run(f"ADD CONSTRAINT {name} NOT VALID", lambda: runner.ctx.impl.add_constraint(
                constraint))  # fmt: skip
        _validate_or_drop(runner, target, name, [(f"VALIDATE CONSTRAINT {name}", validate)])
    return True


def _not_valid_leftover(
    runner: AlembicSafeRunner, target: sql.Identifier, name: str, kind: str
) -> bool:
    if runner.offline:
        return False
    rows = runner.query(_CONSTRAINT_STATE, name=name, table=_text(target))
    return bool(rows) and rows[0][0] == kind and not rows[0][1]


def _validate_or_drop(
    runner: AlembicSafeRunner,
    target: sql.Identifier,
    name: str,
    steps: list[tuple[str, sql.Composable]],
) -> None:
    """Run ``steps`` after ec added the NOT VALID constraint ``name``; if one fails, drop the
    constraint again: left behind, it would fail the running app's writes that break it, and
    the next run's ADD would fail with "already exists"."""
    try:
        for description, statement in steps:
            runner.run(description, partial(runner.emit, _text(statement)))
    except ECError as error:
        drop = sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(target, _ident(name))
        _undo(
            runner, error, f"DROP CONSTRAINT {name} (after the failure)",
            partial(runner.emit, _text(drop)),
            f"the NOT VALID constraint {name} on {_text(target)} it added", _text(drop),
        )  # fmt: skip
        raise


def add_unique(runner: AlembicSafeRunner, constraint: sa.UniqueConstraint) -> None:
    table: Table = constraint.table
    columns = [c.name for c in constraint.columns]
    name = str(constraint.name or _pg_name(table.name, *columns, "key"))
    kwargs: dict[str, Any] = {}
    if constraint.dialect_options["postgresql"].get("nulls_not_distinct"):
        kwargs["postgresql_nulls_not_distinct"] = True
    index = sa.Index(name, *[table.c[c] for c in columns], unique=True, **kwargs)
    _attach_index(runner, constraint, index, "UNIQUE", lambda: None)


def add_primary_key(runner: AlembicSafeRunner, constraint: sa.PrimaryKeyConstraint) -> None:
    """A unique index built CONCURRENTLY, NOT NULL on each column in its safe form, then
    ADD CONSTRAINT ... PRIMARY KEY USING INDEX (no scan: the columns are NOT NULL already)."""
    table: Table = constraint.table
    columns = [c.name for c in constraint.columns]
    name = str(constraint.name or _pg_name(table.name, "pkey"))
    index = sa.Index(name, *[table.c[c] for c in columns], unique=True)
    target = _ident(table.schema, table.name)

    def not_null() -> None:
        present: set[str] = set()
        if not runner.offline:
            present = {row[0] for row in runner.query(_NOT_NULL_COLUMNS, table=_text(target))}
        for column in columns:
            if column not in present:
                set_not_null(runner, table.schema, table.name, column)

    _attach_index(runner, constraint, index, "PRIMARY KEY", not_null)


def _attach_index(
    runner: AlembicSafeRunner,
    constraint: Any,
    index: sa.Index,
    kind: str,
    before_attach: Callable[[], None],
) -> None:
    table: Table = constraint.table
    name = str(index.name)
    attach = sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} " + kind + " USING INDEX {}").format(
        _ident(table.schema, table.name), _ident(name), _ident(name)
    )
    if constraint.deferrable is not None:
        attach += sql.SQL(" DEFERRABLE" if constraint.deferrable else " NOT DEFERRABLE")
    if constraint.initially:
        attach += sql.SQL(" INITIALLY {}").format(sql.SQL(str(constraint.initially).upper()))
    create_index_concurrently(runner, index, table.schema)
    with runner.outside_transaction():
        try:
            before_attach()
            runner.run(f"ADD CONSTRAINT {name} {kind} USING INDEX", lambda: runner.emit(
                _text(attach)))  # fmt: skip
        except ECError as error:
            # the index alone is not what the revision asked for: do not leave it behind
            drop = sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(
                _ident(table.schema, name)
            )
            _undo(
                runner, error, f"DROP INDEX CONCURRENTLY {name} (after the failure)",
                partial(runner.emit, _text(drop)), f"the index {_text(_ident(table.schema, name))}"
                " it built", _text(drop),
            )  # fmt: skip
            raise


# -- NOT NULL ---------------------------------------------------------------------------------
def set_not_null(runner: AlembicSafeRunner, schema: str | None, table: str, column: str) -> None:
    check_name = _pg_name(table, column, "ec_not_null")
    target = _ident(schema, table)
    add = sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({} IS NOT NULL) NOT VALID").format(
        target, _ident(check_name), _ident(column)
    )
    validate = sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(target, _ident(check_name))
    set_it = sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET NOT NULL").format(target, _ident(column))
    drop = sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(target, _ident(check_name))
    with runner.outside_transaction():
        # a failed earlier run whose clean-up failed too may have left the check
        if not _not_valid_leftover(runner, target, check_name, "c"):
            runner.run(f"ADD CHECK ({column} IS NOT NULL) NOT VALID", lambda: runner.emit(
                _text(add)))  # fmt: skip
        _validate_or_drop(
            runner, target, check_name,
            [(f"VALIDATE CONSTRAINT {check_name}", validate),
             (f"SET NOT NULL on {table}.{column}", set_it)],
        )  # fmt: skip
        runner.run(f"DROP CONSTRAINT {check_name}", lambda: runner.emit(_text(drop)))


def add_column_parts(runner: AlembicSafeRunner, operation: ops.AddColumnOp) -> bool:
    """``add_column`` whose column carries a foreign key, check, unique or index: the column
    is added as Alembic adds it, then each of those in its safe form. False when the column
    carries none (Alembic's own add_column is all there is)."""
    column = operation.column
    if column.table is not None:
        column = column._copy()
    # Alembic's own helper: it gives a referenced table a stub so the FK can be compiled
    table = SchemaObjects(runner.ctx).table(operation.table_name, column, schema=operation.schema)
    # inline_references / inline_primary_key arrived after Alembic 1.18.0
    inline = {
        key: getattr(operation, key)
        for key in ("inline_references", "inline_primary_key")
        if hasattr(operation, key)
    }
    constraints = [
        c for c in table.constraints
        if not isinstance(c, sa.PrimaryKeyConstraint) and not (
            inline.get("inline_references") and isinstance(c, sa.ForeignKeyConstraint)
            and len(column.foreign_keys) == 1 and len(c.columns) == 1
        )
    ]  # fmt: skip
    if not constraints and not table.indexes:
        return False
    impl = runner.ctx.impl

    def add() -> None:
        impl.add_column(
            operation.table_name, column, schema=operation.schema,
            if_not_exists=operation.if_not_exists, **inline, **operation.kw,
        )  # fmt: skip
        if column.comment is not None and not impl.dialect.inline_comments:
            impl.create_column_comment(column)

    runner.run(f"ADD COLUMN {column.name}", add)
    for constraint in constraints:
        if not add_constraint(runner, constraint):
            runner.run(f"ADD CONSTRAINT on {column.name}", partial(impl.add_constraint, constraint))
    for index in table.indexes:
        create_index_concurrently(runner, index, operation.schema)
    return True
