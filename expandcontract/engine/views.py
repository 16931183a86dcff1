"""The new version's schema: one view per table exposing that version's logical columns.

Simple views are auto-updatable, so the new version reads and writes through them; column
defaults the new version expects are set on the views; security_invoker (PostgreSQL 15+)
keeps row-level security and privileges evaluated as the querying role.
"""

from __future__ import annotations

from psycopg import sql

from expandcontract.engine.context import PhaseContext
from expandcontract.operations.base import CATALOG, PlannedStep
from expandcontract.operations.expressions import expression_sql


def view_steps(ctx: PhaseContext) -> list[PlannedStep]:
    vs = sql.Identifier(ctx.version_schema)
    statements: list[sql.SQL | sql.Composed] = [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(vs)
    ]
    options = (
        sql.SQL(" WITH (security_invoker = true)")
        if ctx.physical.server_version >= 150000
        else sql.SQL("")
    )
    for table in ctx.state.tables.values():
        physical = ctx.physical.tables.get(table.physical)
        view = sql.Identifier(ctx.version_schema, table.name)
        columns = sql.SQL(", ").join(
            sql.SQL("{} AS {}").format(sql.Identifier(c.physical), sql.Identifier(c.name))
            for c in table.columns.values()
        )
        statements.append(
            sql.SQL("CREATE OR REPLACE VIEW {}{} AS SELECT {} FROM {}").format(
                view, options, columns, ctx.table_ref(table.physical)
            )
        )
        for column in table.columns.values():
            base_default = None
            if physical is not None and column.physical in physical.columns:
                base_default = physical.columns[column.physical].default
            if column.default != base_default:
                # DEFAULT NULL on the view overrides a base default the new version dropped.
                default = expression_sql(column.default) if column.default else sql.SQL("NULL")
                statements.append(
                    sql.SQL("ALTER VIEW {} ALTER COLUMN {} SET DEFAULT {}").format(
                        view, sql.Identifier(column.name), default
                    )
                )
    statements += _grants(ctx)
    return [
        PlannedStep(
            "views",
            f"version schema {ctx.version_schema} with {len(ctx.state.tables)} view(s)",
            tuple(statements),
            "none on tables",
            CATALOG,
        )
    ]


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
    return out


def drop_version_schema(ctx: PhaseContext, schema: str, key: str) -> PlannedStep:
    return PlannedStep(
        key,
        f"drop version schema {schema}",
        (sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)),),
        "none on tables",
        CATALOG,
    )
