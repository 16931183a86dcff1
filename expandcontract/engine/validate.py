"""Validation against the live database, before any DDL: types exist, every expression
parses and type-checks (a protocol-level Parse of the statement it will be part of: analysed,
never executed, one statement at most), defaults are probed for the catalog-only fast path.
Any failure: a clear error and zero statements executed."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from expandcontract.operations.base import Expression, MigrationInvalid, Resolved
from expandcontract.operations.context import REFERENCE, PhaseContext
from expandcontract.operations.expressions import (
    check_expression,
    expression_sql,
    parse_only,
    type_sql,
)
from expandcontract.operations.state import PREFIX, LogicalTable

Connection = psycopg.Connection[tuple[Any, ...]]


_DEPENDENTS = """
SELECT DISTINCT dn.nspname, dc.relname, 'view'
FROM pg_depend d
JOIN pg_rewrite r ON r.oid = d.objid
JOIN pg_class dc ON dc.oid = r.ev_class
JOIN pg_namespace dn ON dn.oid = dc.relnamespace
WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
  AND d.refobjid = %(table)s::regclass AND dc.oid <> d.refobjid
  AND (%(whole)s OR d.refobjsubid = ANY(%(attnums)s))
  AND dn.nspname <> ALL(%(ours)s)
UNION
SELECT DISTINCT n.nspname, c.relname, 'foreign key ' || con.conname
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE con.contype = 'f' AND con.confrelid = %(table)s::regclass AND con.conrelid <> con.confrelid
  AND (%(whole)s OR con.confkey && %(attnums)s::smallint[])
UNION
-- Row-security policies, triggers (UPDATE OF col, WHEN), generated columns, publication column
-- lists and BEGIN ATOMIC functions that read a column: DROP COLUMN would fail half-way.
SELECT DISTINCT n.nspname, c.relname, pg_describe_object(d.classid, d.objid, d.objsubid)
FROM pg_depend d
JOIN pg_class c ON c.oid = d.refobjid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = %(table)s::regclass
  AND NOT %(whole)s AND d.refobjsubid = ANY(%(attnums)s) AND d.deptype = 'n'
  AND d.classid IN ('pg_policy'::regclass, 'pg_trigger'::regclass, 'pg_attrdef'::regclass,
                    'pg_publication_rel'::regclass, 'pg_proc'::regclass)
  AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE d.classid = 'pg_trigger'::regclass
                  AND t.oid = d.objid AND t.tgname LIKE '\\_ec\\_%%')
ORDER BY 1, 2
"""


def check_dependents(
    conn: Connection,
    ctx: PhaseContext,
    old_schema: str,
    moved: set[tuple[str, str, str]] | None = None,
) -> None:
    """Contract drops columns and tables; a user view or a foreign key that depends on one
    would make contract fail half-way, so it is refused now, before anything runs. ``moved``:
    (schema, table, name) of foreign keys an operation re-points itself at contract."""
    # Views ec made itself (the previous version's schema) are dropped by contract first.
    ours = [ctx.version_schema] + ([old_schema] if old_schema != ctx.schema else [])
    moved_rows = {(schema, table, f"foreign key {name}") for schema, table, name in moved or set()}
    targets: list[tuple[str, list[str], bool]] = []
    for table in ctx.state.tables.values():
        if table.origin == "created":
            continue
        kept = {c.physical for c in table.columns.values()}
        gone = [c for c in ctx.physical.tables[table.physical].columns if c not in kept]
        if gone:
            targets.append((table.physical, gone, False))
    targets += [(name, [], True) for name in sorted(ctx.state.dropped_tables)]
    for name, columns, whole in targets:
        regclass = sql.Identifier(ctx.schema, name).as_string(conn)
        attnums = [
            int(r[0])
            for r in conn.execute(
                "SELECT attnum FROM pg_attribute WHERE attrelid = %s::regclass"
                " AND attname = ANY(%s)",
                (regclass, columns),
            )
        ]
        found = conn.execute(
            _DEPENDENTS, {"table": regclass, "attnums": attnums, "whole": whole, "ours": ours}
        ).fetchall()
        found = [r for r in found if tuple(r) not in moved_rows]
        if found:
            what = ", ".join(f"{kind} {schema}.{name}" for schema, name, kind in found)
            subject = f"table {name!r}" if whole else f"column(s) {', '.join(columns)} of {name!r}"
            raise MigrationInvalid(
                f"contract would drop {subject}, but {what} depend(s) on it",
                "drop or change the dependent objects first (an `sql` operation on expand)",
            )


def validate(conn: Connection, ctx: PhaseContext, operations: list[tuple[str, Resolved]]) -> None:
    """``operations``: (where, resolved operation), in migration order."""
    if ctx.version_schema in _schemas(conn):
        raise MigrationInvalid(
            f"schema {ctx.version_schema!r} already exists",
            "another migration used this name, or a rollback did not finish: run ec rollback",
        )
    for where, op in operations:
        for type_ in op.types():
            _check_type(conn, type_, where)
        for e in op.expressions(ctx):
            _explain(conn, ctx, e, f"{where}: {e.label}")
        for label, reference in op.references():
            _check_reference(ctx, reference, f"{where}: {label}")
        op.probe(conn, ctx, where)


def _check_reference(ctx: PhaseContext, ref: str, where: str) -> None:
    """The referenced table and column must exist (or be created by this migration)."""
    m = REFERENCE.match(ref)
    if not m:
        raise MigrationInvalid(f"{where}: references must look like table or table(column)")
    table, column = m.group("table"), m.group("col")
    created = ctx.state.tables.get(table)
    if created is not None and created.origin == "created":
        if column and column not in created.columns:
            raise MigrationInvalid(f"{where}: references unknown column {table}.{column}")
        return
    physical = ctx.physical.tables.get(table)
    if physical is None:
        raise MigrationInvalid(f"{where}: references unknown table {ctx.schema}.{table}")
    if column and column not in physical.columns:
        raise MigrationInvalid(f"{where}: references unknown column {table}.{column}")


def _schemas(conn: Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}


def _check_type(conn: Connection, type_: str, where: str) -> None:
    type_sql(type_)  # a type name and nothing else, before PostgreSQL sees it
    try:
        with conn.transaction():
            row = conn.execute("SELECT to_regtype(%s)", (type_,)).fetchone()
    except psycopg.Error:
        row = None
    if not row or row[0] is None:
        raise MigrationInvalid(f"{where}: unknown type {type_!r}")


def _logical(ctx: PhaseContext, physical_table: str) -> LogicalTable | None:
    return next((t for t in ctx.state.tables.values() if t.physical == physical_table), None)


# The row an expression sees in the trigger: its columns as plain names and nothing else (no
# table name to qualify them with, no system columns), under an alias users cannot write.
_ROW = sql.Identifier(f"{PREFIX}row")


def _relation(ctx: PhaseContext, e: Expression) -> sql.Composable:
    if e.table is None or e.reads == "none":
        return sql.SQL("")
    if e.reads == "old":  # the old version: the physical table as it is
        table = e.table
        physical = ctx.physical.tables[table]
        columns = sql.SQL(", ").join(
            sql.Identifier(c) for c in physical.columns if not c.startswith(PREFIX)
        )
        return sql.SQL(" FROM (SELECT {} FROM {}) AS {}").format(
            columns, ctx.table_ref(table), _ROW
        )
    logical = _logical(ctx, e.table)
    if logical is None:
        return sql.SQL("")
    return _new_row(ctx, logical)


def _new_row(ctx: PhaseContext, table: LogicalTable) -> sql.Composable:
    physical_table = ctx.physical.tables.get(table.physical)
    existing = physical_table.columns if physical_table else {}
    columns = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(
            sql.Identifier(c.physical)
            if c.physical in existing
            else sql.SQL("NULL::{}").format(type_sql(c.type)),
            sql.Identifier(c.name),
        )
        for c in table.columns.values()
    )
    source = (
        sql.SQL(" FROM {}").format(ctx.table_ref(table.physical)) if physical_table else sql.SQL("")
    )
    return sql.SQL(" FROM (SELECT {}{}) AS {}").format(columns, source, _ROW)


def _explain(conn: Connection, ctx: PhaseContext, e: Expression, where: str) -> None:
    check_expression(e.text, what=where)  # structure first, with the user's label
    statement = sql.SQL("SELECT ({})::{}{}").format(
        expression_sql(e.text), type_sql(e.type), _relation(ctx, e)
    )
    detail = parse_only(conn, statement)
    if detail is not None:
        side = {"old": "old version's", "new": "new version's"}.get(e.reads)
        hint = f"names in this expression refer to the {side} columns" if side else None
        raise MigrationInvalid(f"{where} {e.text!r} is not valid: {detail}", hint)
