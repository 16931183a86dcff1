"""Validation against the live database, before any DDL: types exist, every expression
parses and type-checks (EXPLAIN in a transaction that is rolled back), defaults are probed for
the catalog-only fast path. Any failure: a clear error and zero statements executed."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from expandcontract.engine.context import PhaseContext
from expandcontract.operations import AddColumn, AlterColumn, CreateIndex, CreateTable, DropColumn
from expandcontract.operations.base import MigrationInvalid, Operation
from expandcontract.operations.columns import ColumnSpec
from expandcontract.operations.expressions import fragment
from expandcontract.operations.state import LogicalTable

Connection = psycopg.Connection[tuple[Any, ...]]


class _Rollback(Exception):
    pass


def validate(conn: Connection, ctx: PhaseContext, operations: list[Operation]) -> None:
    if ctx.version_schema in _schemas(conn):
        raise MigrationInvalid(
            f"schema {ctx.version_schema!r} already exists",
            "another migration used this name, or a rollback did not finish: run ec rollback",
        )
    for i, op in enumerate(operations, start=1):
        where = f"operation {i} ({op.kind})"
        for type_ in _types(op):
            _check_type(conn, type_, where)
        for label, expression, target_type, table, names in _expressions(ctx, op):
            _explain(conn, ctx, expression, target_type, table, names, f"{where}: {label}")
        if isinstance(op, AddColumn) and op.column.default is not None:
            ctx.fast_defaults[(op.column.type, op.column.default)] = _is_fast_default(
                conn, op.column.type, op.column.default, where
            )


def _schemas(conn: Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}


def _types(op: Operation) -> list[str]:
    if isinstance(op, AddColumn):
        return [op.column.type]
    if isinstance(op, AlterColumn) and op.type:
        return [op.type]
    if isinstance(op, CreateTable):
        return [c.type for c in op.columns]
    return []


def _check_type(conn: Connection, type_: str, where: str) -> None:
    try:
        with conn.transaction():
            row = conn.execute("SELECT to_regtype(%s)", (type_,)).fetchone()
    except psycopg.Error:
        row = None
    if not row or row[0] is None:
        raise MigrationInvalid(f"{where}: unknown type {type_!r}")


def _expressions(
    ctx: PhaseContext, op: Operation
) -> list[tuple[str, str, str, LogicalTable | str | None, str]]:
    """(label, expression, type it must cast to, table it reads, which names: old|new|none)."""
    out: list[tuple[str, str, str, LogicalTable | str | None, str]] = []
    if isinstance(op, AddColumn):
        if op.up is not None:
            out.append(("up", op.up, op.column.type, op._physical_table, "old"))
        out += _column_expressions(op.column)
    elif isinstance(op, AlterColumn) and op._new is not None:
        logical = _logical(ctx, op._table)
        if op.up is not None:
            out.append(("up", op.up, op._new.type, op._table, "old"))
        if op.moves_data:
            old_type = ctx.physical.tables[op._table].columns[op._old].type
            out.append(("down", op._down(), old_type, logical, "new"))
        if isinstance(op.default, str):
            out.append(("default", op.default, op._new.type, None, "none"))
    elif isinstance(op, DropColumn) and op.down is not None:
        old_type = ctx.physical.tables[op._physical[0]].columns[op._physical[1]].type
        out.append(("down", op.down, old_type, _logical(ctx, op._physical[0]), "new"))
    elif isinstance(op, CreateTable):
        for column in op.columns:
            out += _column_expressions(column)
    elif isinstance(op, CreateIndex) and op.where:
        out.append(("where", op.where, "boolean", _logical(ctx, op._physical_table), "new"))
    return out


def _column_expressions(column: ColumnSpec) -> list[tuple[str, str, str, Any, str]]:
    out: list[tuple[str, str, str, Any, str]] = []
    if column.default is not None:
        out.append(("default", column.default, column.type, None, "none"))
    return out


def _logical(ctx: PhaseContext, physical_table: str) -> LogicalTable | None:
    return next((t for t in ctx.state.tables.values() if t.physical == physical_table), None)


def _relation(ctx: PhaseContext, table: LogicalTable | str | None, names: str) -> sql.Composable:
    if table is None or names == "none":
        return sql.SQL("")
    if isinstance(table, str):
        return sql.SQL(" FROM {} AS {}").format(ctx.table_ref(table), sql.Identifier(table))
    physical = ctx.physical.tables.get(table.physical)
    existing = physical.columns if physical else {}
    columns = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(
            sql.Identifier(c.physical)
            if c.physical in existing
            else sql.SQL("NULL::{}").format(fragment(c.type)),
            sql.Identifier(c.name),
        )
        for c in table.columns.values()
    )
    source = sql.SQL(" FROM {}").format(ctx.table_ref(table.physical)) if physical else sql.SQL("")
    return sql.SQL(" FROM (SELECT {}{}) AS {}").format(columns, source, sql.Identifier(table.name))


def _explain(
    conn: Connection,
    ctx: PhaseContext,
    expression: str,
    target_type: str,
    table: LogicalTable | str | None,
    names: str,
    where: str,
) -> None:
    statement = sql.SQL("EXPLAIN SELECT ({})::{}{}").format(
        fragment(expression), fragment(target_type), _relation(ctx, table, names)
    )
    try:
        with conn.transaction():
            conn.execute("SET LOCAL statement_timeout = '10s'")
            conn.execute(statement)
            raise _Rollback
    except _Rollback:
        return
    except psycopg.Error as exc:
        detail = (exc.diag.message_primary or str(exc)).strip()
        side = {"old": "old version's", "new": "new version's"}.get(names)
        hint = f"names in this expression refer to the {side} columns" if side else None
        raise MigrationInvalid(f"{where} {expression!r} is not valid: {detail}", hint) from None


def _is_fast_default(conn: Connection, type_: str, default: str, where: str) -> bool:
    """Add the column to a one-row temporary table and ask PostgreSQL whether it stored a
    "missing value" (catalog-only) or would have rewritten the table."""
    try:
        with conn.transaction():
            conn.execute("CREATE TEMP TABLE _ec_probe ON COMMIT DROP AS SELECT 1 AS x")
            conn.execute(
                sql.SQL("ALTER TABLE _ec_probe ADD COLUMN c {} DEFAULT {}").format(
                    fragment(type_), fragment(default)
                )
            )
            row = conn.execute(
                "SELECT atthasmissing FROM pg_attribute"
                " WHERE attrelid = '_ec_probe'::regclass AND attname = 'c'"
            ).fetchone()
            raise _Rollback(bool(row and row[0]))
    except _Rollback as result:
        return bool(result.args[0])
    except psycopg.Error as exc:
        raise MigrationInvalid(
            f"{where}: default {default!r} is not valid for {type_}: "
            f"{(exc.diag.message_primary or str(exc)).strip()}"
        ) from None
