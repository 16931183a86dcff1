"""Lock-safe DDL building blocks shared by operations: constraints NOT VALID then VALIDATE,
NOT NULL through a validated CHECK, unique through CONCURRENTLY + USING INDEX."""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg
from psycopg import sql

from expandcontract.errors import privilege_error
from expandcontract.operations.base import (
    CATALOG,
    NONBLOCKING_LOCK_TIMEOUT_MS,
    SCAN,
    MigrationInvalid,
    PlannedStep,
)
from expandcontract.operations.columns import ColumnSpec
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.expressions import expression_sql, rename_columns, type_sql
from expandcontract.operations.state import PENDING


def drop_index_concurrently(schema: str, name: str) -> PlannedStep:
    """Drop an index without blocking writes (rollback of create_index, contract of
    drop_index): outside a transaction, IF EXISTS so a retry after a crash is a no-op."""
    return PlannedStep(
        "drop",
        f"drop index {name} CONCURRENTLY",
        (sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(schema, name)),),
        "SHARE UPDATE EXCLUSIVE",
        CATALOG,
        lock_timeout_ms=NONBLOCKING_LOCK_TIMEOUT_MS,
        transactional=False,
    )


def object_name(*parts: str, suffix: str) -> str:
    """PostgreSQL-style constraint/index name that always fits in 63 bytes."""
    name = "_".join([*parts, suffix])
    if len(name.encode()) <= 63:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return name.encode()[: 63 - 9].decode(errors="ignore") + "_" + digest


def not_null_check(table: str, column: str) -> str:
    return object_name("_ec_nn", table, column, suffix="check")


def strict_not_null_check(table: str, column: str) -> str:
    return object_name("_ec_nnv", table, column, suffix="check")


def _has_pending_marker(ctx: PhaseContext, table: str) -> bool:
    """Rows of this table carry the pending marker (they get new-version values from `up`)."""
    return any(t.physical == table and t.needs_backfill for t in ctx.state.tables.values())


def _not_null(column: str, *, unless_pending: bool) -> sql.Composed:
    test = sql.SQL("{} IS NOT NULL").format(sql.Identifier(column))
    if unless_pending:
        return sql.SQL("{} OR {}").format(test, sql.Identifier(PENDING))
    return test


def add_not_null_check(ctx: PhaseContext, table: str, column: str, key: str) -> PlannedStep:
    """NOT NULL for new writes while both versions run. On a table with pending rows a row
    whose `up` failed is pending and may be NULL here: the old version's write must go
    through (the row is listed and converted before contract)."""
    pending = _has_pending_marker(ctx, table)
    return PlannedStep(
        key,
        f"NOT NULL for {table}.{column} as CHECK … NOT VALID (no scan)",
        (
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({}) NOT VALID").format(
                ctx.table_ref(table),
                sql.Identifier(not_null_check(table, column)),
                _not_null(column, unless_pending=pending),
            ),
        ),
        "ACCESS EXCLUSIVE",
        CATALOG,
        stage="constraints",
    )


def finish_not_null(ctx: PhaseContext, table: str, column: str, key: str) -> list[PlannedStep]:
    """VALIDATE (scan under SHARE UPDATE EXCLUSIVE: writes go on), then SET NOT NULL, which
    PostgreSQL >= 12 proves from the valid CHECK without another scan, then drop the CHECK.
    A table with pending rows first gets the plain CHECK (NOT VALID) to validate: contract
    runs after the trigger became strict, so no row can become pending any more."""
    ref = ctx.table_ref(table)
    pending = _has_pending_marker(ctx, table)
    proof = strict_not_null_check(table, column) if pending else not_null_check(table, column)
    check = sql.Identifier(proof)
    steps: list[PlannedStep] = []
    if pending:
        steps.append(
            PlannedStep(
                f"{key}:strict",
                f"NOT NULL check on {table}.{column} for every row, NOT VALID (no scan)",
                (
                    sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({}) NOT VALID").format(
                        ref, check, _not_null(column, unless_pending=False)
                    ),
                ),
                "ACCESS EXCLUSIVE",
                CATALOG,
            )
        )
    drops = [sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(ref, check)]
    if pending:
        drops.append(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(
                ref, sql.Identifier(not_null_check(table, column))
            )
        )
    return [
        *steps,
        PlannedStep(
            f"{key}:validate",
            f"validate NOT NULL check on {table}.{column}",
            (sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(ref, check),),
            "SHARE UPDATE EXCLUSIVE",
            SCAN,
            statement_timeout_ms=0,
            lock_timeout_ms=NONBLOCKING_LOCK_TIMEOUT_MS,
        ),
        PlannedStep(
            f"{key}:set-not-null",
            f"SET NOT NULL on {table}.{column} (proved by the valid CHECK)",
            (
                sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET NOT NULL").format(
                    ref, sql.Identifier(column)
                ),
                *drops,
            ),
            "ACCESS EXCLUSIVE",
            CATALOG,
        ),
    ]


def check_constraint_name(table: str, column: ColumnSpec) -> str:
    """The name the user gave the column's CHECK, else PostgreSQL's style of name."""
    given = column.check.name if column.check is not None else None
    return given or object_name(table, column.name, suffix="check")


def foreign_key_name(table: str, column: ColumnSpec) -> str:
    given = column.references.name if column.references is not None else None
    return given or object_name(table, column.name, suffix="fkey")


def _check_names_free(ctx: PhaseContext, table: str, column: ColumnSpec) -> None:
    """A name the user gave must be free on the table: PostgreSQL would refuse it half-way."""
    physical = ctx.physical.tables.get(table)
    taken = set(physical.constraints) if physical else set()
    given = [
        n
        for n in (getattr(column.check, "name", None), getattr(column.references, "name", None))
        if n
    ]
    for name in given:
        if name in taken:
            raise MigrationInvalid(
                f"column {column.name!r}: table {table!r} already has a constraint {name!r}"
            )
    if len(given) == 2 and given[0] == given[1]:
        raise MigrationInvalid(f"column {column.name!r}: check and references share a name")


def constraint_steps(ctx: PhaseContext, table: str, column: ColumnSpec) -> list[PlannedStep]:
    """Expand-phase steps for the constraints (and comment) a new column declares."""
    ref, col = ctx.table_ref(table), sql.Identifier(column.name)
    _check_names_free(ctx, table, column)
    steps: list[PlannedStep] = []
    if column.comment is not None:
        steps.append(
            PlannedStep(
                f"comment:{column.name}",
                f"comment on {table}.{column.name}",
                (
                    sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(
                        ref, col, sql.Literal(column.comment)
                    ),
                ),
                "SHARE UPDATE EXCLUSIVE",
                CATALOG,
            )
        )
    if not column.nullable:
        steps.append(add_not_null_check(ctx, table, column.name, f"nn:{column.name}"))
    if column.check:
        # Written in the new version's names: a column it reads may be a twin or renamed.
        logical = next((t for t in ctx.state.tables.values() if t.physical == table), None)
        names = {c.name: c.physical for c in logical.columns.values()} if logical else {}
        check = rename_columns(column.check, names, where=f"check of {column.name}")
        steps.append(
            PlannedStep(
                f"check:{column.name}",
                f"CHECK on {table}.{column.name} NOT VALID",
                (
                    sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({}){} NOT VALID").format(
                        ref,
                        sql.Identifier(check_constraint_name(table, column)),
                        expression_sql(check),
                        sql.SQL(" NO INHERIT" if column.check.no_inherit else ""),
                    ),
                ),
                "ACCESS EXCLUSIVE",
                CATALOG,
                stage="constraints",
            )
        )
    if column.references:
        steps.append(
            PlannedStep(
                f"fk:{column.name}",
                f"foreign key {table}.{column.name} -> {column.references} NOT VALID",
                (
                    sql.SQL(
                        "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({})"
                        " REFERENCES {}{} NOT VALID"
                    ).format(
                        ref,
                        sql.Identifier(foreign_key_name(table, column)),
                        col,
                        ctx.reference(column.references),
                        column.references.options.clause(),
                    ),
                ),
                "SHARE ROW EXCLUSIVE",
                CATALOG,
                stage="constraints",
            )
        )
    if column.unique:
        index = object_name(table, column.name, suffix="key")
        steps.append(
            PlannedStep(
                f"unique:{column.name}",
                f"unique index {index} built CONCURRENTLY",
                (
                    sql.SQL("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} ({})").format(
                        sql.Identifier(index), ref, col
                    ),
                ),
                "SHARE UPDATE EXCLUSIVE",
                SCAN,
                lock_timeout_ms=NONBLOCKING_LOCK_TIMEOUT_MS,
                transactional=False,
                creates_index=(ctx.schema, index),
                statement_timeout_ms=0,
                stage="indexes",
            )
        )
    return steps


def finish_constraint_steps(ctx: PhaseContext, table: str, column: ColumnSpec) -> list[PlannedStep]:
    """Contract-phase steps: validate what expand added NOT VALID, attach the unique index."""
    ref = ctx.table_ref(table)
    steps: list[PlannedStep] = []
    if not column.nullable:
        steps += finish_not_null(ctx, table, column.name, f"nn:{column.name}")
    names = (
        ("check", check_constraint_name(table, column), column.check),
        ("fkey", foreign_key_name(table, column), column.references),
    )
    for suffix, name, present in names:
        if present:
            steps.append(
                PlannedStep(
                    f"{suffix}:{column.name}:validate",
                    f"validate {name}",
                    (
                        sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(
                            ref, sql.Identifier(name)
                        ),
                    ),
                    "SHARE UPDATE EXCLUSIVE",
                    SCAN,
                    statement_timeout_ms=0,
                    lock_timeout_ms=NONBLOCKING_LOCK_TIMEOUT_MS,
                )
            )
    if column.unique:
        index = object_name(table, column.name, suffix="key")
        steps.append(
            PlannedStep(
                f"unique:{column.name}:attach",
                f"UNIQUE constraint {index} USING INDEX (no scan)",
                (
                    sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} UNIQUE USING INDEX {}").format(
                        ref, sql.Identifier(index), sql.Identifier(index)
                    ),
                ),
                "ACCESS EXCLUSIVE",
                CATALOG,
            )
        )
    return steps


class _Rollback(Exception):
    pass


def is_fast_default(conn: psycopg.Connection[Any], type_: str, default: str, where: str) -> bool:
    """Add the column to an empty temporary table and ask PostgreSQL whether it stored a
    "missing value" (catalog-only) or would have rewritten the table. Empty, so a volatile
    default is never evaluated: validation runs no user code."""
    try:
        with conn.transaction():
            conn.execute("SET LOCAL statement_timeout = '10s'")
            conn.execute("CREATE TEMP TABLE _ec_probe ON COMMIT DROP AS SELECT 1 AS x WHERE false")
            # binary=True: the extended protocol, one statement only.
            conn.execute(
                sql.SQL("ALTER TABLE _ec_probe ADD COLUMN c {} DEFAULT ({})").format(
                    type_sql(type_), expression_sql(default)
                ),
                binary=True,
            )
            row = conn.execute(
                "SELECT atthasmissing FROM pg_attribute"
                " WHERE attrelid = '_ec_probe'::regclass AND attname = 'c'"
            ).fetchone()
            raise _Rollback(bool(row and row[0]))
    except _Rollback as result:
        return bool(result.args[0])
    except psycopg.Error as exc:
        denied = privilege_error(exc, doing=f"{where}: checking default {default!r}")
        if denied is not None:
            raise denied from exc
        raise MigrationInvalid(
            f"{where}: default {default!r} is not valid for {type_}: "
            f"{(exc.diag.message_primary or str(exc)).strip()}"
        ) from None
