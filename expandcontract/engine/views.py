"""The new version's schema: one view per table exposing that version's logical columns.

Simple views are auto-updatable, so the new version reads and writes through them; column
defaults the new version expects are set on the views; security_invoker (PostgreSQL 15+)
keeps row-level security and privileges evaluated as the querying role. The app's roles get
the privileges they have on the base tables and columns; column comments are copied.

Tables an expand-time raw ``sql`` declares (``tables:``) get their view from the catalog when
the step runs, after the sql (operations/sql_views.py): the plan cannot know their columns.
"""

from __future__ import annotations

from psycopg import sql

from expandcontract.operations.base import CATALOG, MigrationInvalid, PlannedStep
from expandcontract.operations.column_settings import grant_statements
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.expressions import expression_sql
from expandcontract.operations.sql_views import catalog_view, declared_tables
from expandcontract.operations.state import LogicalTable, duplicate_name
from expandcontract.schema.model import Column


def view_steps(ctx: PhaseContext) -> list[PlannedStep]:
    vs = sql.Identifier(ctx.version_schema)
    statements: list[sql.SQL | sql.Composed] = [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(vs)
    ]
    declared = {d.table: d for d in declared_tables(ctx.state) if d.on == "expand"}
    for table in ctx.state.tables.values():
        physical = ctx.physical.tables.get(table.physical)
        view = sql.Identifier(ctx.version_schema, table.name)
        invoker = _checks_as_invoker(ctx, table)
        if table.physical in declared:
            statements.append(
                catalog_view(
                    ctx,
                    table.physical,
                    logical=table,
                    invoker=invoker,
                    where=declared[table.physical].where,
                )
            )
        else:
            statements.append(_static_view(ctx, table, invoker))
        for column in table.columns.values():
            base_default = None
            if physical is not None and column.physical in physical.columns:
                base_default = physical.columns[column.physical].default
            if column.default != base_default:
                # DEFAULT NULL on the view overrides a base default the new version dropped.
                default = expression_sql(column.default) if column.default else sql.SQL("NULL")
                statements.append(
                    sql.SQL("ALTER VIEW {} ALTER COLUMN {} SET DEFAULT ({})").format(
                        view, sql.Identifier(column.name), default
                    )
                )
        for name, source in _sources(ctx, table).items():
            if source.comment is not None:
                statements.append(
                    sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(
                        view, sql.Identifier(name), sql.Literal(source.comment)
                    )
                )
    for created in declared.values():
        if created.created:
            statements.append(
                catalog_view(
                    ctx,
                    created.table,
                    logical=None,
                    invoker=ctx.physical.server_version >= 150000,
                    where=created.where,
                )
            )
    statements += _grants(ctx)
    count = len(ctx.state.tables) + sum(d.created for d in declared.values())
    return [
        PlannedStep(
            "views",
            f"version schema {ctx.version_schema} with {count} view(s)",
            tuple(statements),
            "none on tables",
            CATALOG,
        )
    ]


def _static_view(ctx: PhaseContext, table: LogicalTable, invoker: bool) -> sql.Composed:
    options = sql.SQL(" WITH (security_invoker = true)") if invoker else sql.SQL("")
    columns = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(sql.Identifier(c.physical), sql.Identifier(c.name))
        for c in table.columns.values()
    )
    return sql.SQL("CREATE OR REPLACE VIEW {}{} AS SELECT {} FROM {}").format(
        sql.Identifier(ctx.version_schema, table.name),
        options,
        columns,
        ctx.table_ref(table.physical),
    )


def _checks_as_invoker(ctx: PhaseContext, table: LogicalTable) -> bool:
    """security_invoker (PostgreSQL 15+) checks privileges and row security as the querying
    role, but then PostgreSQL requires SELECT on every base column the view shows: a role that
    may read only some columns (GRANT SELECT (id, score) …) could not read the view at all.
    Such a table's view checks the base table as its owner; the role's column privileges are
    granted on the view's columns instead, so it reads and writes exactly what it could."""
    if ctx.physical.server_version < 150000:
        return False
    partial = _column_only_readers(ctx, table.physical)
    if not partial:
        return True
    physical = ctx.physical.tables.get(table.physical)
    if physical is not None and physical.row_security:
        raise MigrationInvalid(
            f"table {table.physical!r} has row-level security and role(s) "
            f"{', '.join(partial)} may read only some of its columns: the new version's view "
            "must check row security as the querying role, and PostgreSQL then requires SELECT "
            "on every column it shows, so these roles could not read the new version",
            f"grant SELECT on the whole table to {', '.join(partial)} for the migration, "
            "or revoke their column privileges",
        )
    return False


def _column_only_readers(ctx: PhaseContext, table: str) -> list[str]:
    """Roles with column-level SELECT on ``table`` but no table-level SELECT."""
    table_readers = {role for role, p in ctx.table_grants.get(table, []) if p == "SELECT"}
    if "PUBLIC" in table_readers:
        return []
    return sorted(
        {
            grant.role
            for (name, _), grants in ctx.column_grants.items()
            if name == table
            for grant in grants
            if grant.privilege == "SELECT" and grant.role not in table_readers
        }
    )


def _sources(ctx: PhaseContext, table: LogicalTable) -> dict[str, Column]:
    """View column (the new version's name) -> the base column it stands for: itself,
    renamed, or the column a twin duplicates. Added columns have none."""
    physical = ctx.physical.tables.get(table.physical)
    if physical is None:
        return {}
    twins = {duplicate_name(name): column for name, column in physical.columns.items()}
    out: dict[str, Column] = {}
    for column in table.columns.values():
        source = physical.columns.get(column.physical)
        if source is None and column.origin == "duplicated":
            source = twins.get(column.physical)
        if source is not None:
            out[column.name] = source
    return out


def _grantee(role: str) -> sql.Composable:
    return sql.SQL("PUBLIC") if role == "PUBLIC" else sql.Identifier(role)


def _grants(ctx: PhaseContext) -> list[sql.SQL | sql.Composed]:
    """The app's roles get on the new version what they have on the base schema and tables
    (security_invoker views also check the base table privileges, which they already hold)."""
    out: list[sql.SQL | sql.Composed] = []
    vs = sql.Identifier(ctx.version_schema)
    for role in ctx.schema_usage:
        out.append(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(vs, _grantee(role)))
    for table in ctx.state.tables.values():
        by_role: dict[str, list[str]] = {}
        for role, privilege in ctx.table_grants.get(table.physical, []):
            by_role.setdefault(role, []).append(privilege)
        for role, privileges in sorted(by_role.items()):
            out.append(
                sql.SQL("GRANT {} ON {} TO {}").format(
                    sql.SQL(", ").join(sql.SQL(p) for p in sorted(set(privileges))),
                    sql.Identifier(ctx.version_schema, table.name),
                    _grantee(role),
                )
            )
        # Column privileges (GRANT SELECT (id, score) …) on the columns the view shows.
        column_grants = {
            name: ctx.column_grants.get((table.physical, source.name), [])
            for name, source in _sources(ctx, table).items()
        }
        out += grant_statements(
            sql.Identifier(ctx.version_schema, table.name),
            column_grants,
            privileges={"SELECT", "INSERT", "UPDATE"},
        )
    return out


def drop_version_schema(ctx: PhaseContext, schema: str, key: str) -> PlannedStep:
    return PlannedStep(
        key,
        f"drop version schema {schema}",
        (sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)),),
        "none on tables",
        CATALOG,
    )
