"""Ask PostgreSQL itself whether DDL would succeed, before anything runs: the statement is
executed against an empty TEMPORARY table inside a transaction that is always rolled back.
Empty, so no user expression is ever evaluated; temporary, so nothing anyone else sees
changes and no lock beyond ACCESS SHARE (reading a table's definition) is taken.

It catches what parsing cannot: an operator class, collation or operator that does not exist
for the access method or type, a mutable function in an index expression, an exclusion
constraint whose type has no operator class for the method (btree_gist missing)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from expandcontract.errors import privilege_error
from expandcontract.operations.base import MigrationInvalid
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.expressions import type_sql

PROBE_TABLE = "_ec_probe_table"


def probe_table(ctx: PhaseContext, physical: str) -> list[sql.Composed] | None:
    """Statements creating an empty temporary copy of ``physical`` as the new version will
    have it (columns a migration adds or twins included, under their physical names); None
    when ec knows neither the table nor its columns."""
    probe = sql.Identifier(PROBE_TABLE)
    logical = next((t for t in ctx.state.tables.values() if t.physical == physical), None)
    existing = ctx.physical.tables.get(physical)
    if existing is None:
        if logical is None:
            return None
        columns = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(c.physical), type_sql(c.type))
            for c in logical.columns.values()
        )
        return [sql.SQL("CREATE TEMP TABLE {} ({})").format(probe, columns)]
    statements: list[sql.Composed] = [
        sql.SQL("CREATE TEMP TABLE {} (LIKE {})").format(probe, ctx.table_ref(physical))
    ]
    missing = [
        c
        for c in (logical.columns.values() if logical else [])
        if c.physical not in existing.columns
    ]
    statements += [
        sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
            probe, sql.Identifier(c.physical), type_sql(c.type)
        )
        for c in missing
    ]
    return statements


def try_ddl(
    conn: psycopg.Connection[Any],
    statements: list[sql.Composed],
    *,
    where: str,
    what: str,
) -> None:
    """Run ``statements`` and roll back; MigrationInvalid with PostgreSQL's reason if they fail."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SET LOCAL statement_timeout = '10s'")
            conn.execute("SET LOCAL lock_timeout = '2s'")
            for statement in statements:
                conn.execute(statement, binary=True)  # extended protocol: one statement each
    except psycopg.Error as exc:
        denied = privilege_error(exc, doing=f"{where}: checking {what}")
        if denied is not None:
            raise denied from exc
        raise MigrationInvalid(
            f"{where}: {what} would fail: {(exc.diag.message_primary or str(exc)).strip()}",
            exc.diag.message_hint,
        ) from None
