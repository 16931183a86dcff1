"""Reads ec's footprint (ledger schema, version schemas, the active migration's operations)
through the connection Alembic compares on, inside its transaction: read-only, and checked for
existence and privilege first so that a database without ec (or a role that cannot read the
ledger) never aborts Alembic's transaction."""

from __future__ import annotations

from typing import Any

from expandcontract.alembic.autogen_drift import EcObjects, InFlight
from expandcontract.errors import ECError


def _settings(migration_context: Any) -> Any:
    from alembic.util import CommandError

    from expandcontract.alembic.binding import project_dir
    from expandcontract.config import Settings

    try:
        return Settings.load(start_dir=project_dir(migration_context))
    except ECError as exc:  # Alembic prints a CommandError as "FAILED: …", no traceback
        raise CommandError(f"expandcontract: {exc}") from exc


def read_ec_objects(migration_context: Any) -> EcObjects:
    settings = _settings(migration_context)
    connection = migration_context.bind
    if connection is None:  # offline: nothing to read, names alone identify ec's objects
        return EcObjects(settings.ledger_schema, settings.schema)
    default_schema = connection.dialect.default_schema_name
    rows = _migrations(connection, settings.ledger_schema)
    version_schemas = frozenset(
        schema
        for _, base, version, _, _ in rows
        for schema in (version,)
        if schema is not None and schema != base
    )
    in_flight = None
    for _, base, _, active, spec in rows:
        if active and base == settings.schema and isinstance(spec, dict):
            migration = spec.get("migration") or {}
            in_flight = InFlight.from_operations(migration.get("operations") or [])
    return EcObjects(
        settings.ledger_schema, settings.schema, default_schema, version_schemas, in_flight
    )


def _migrations(connection: Any, ledger_schema: str) -> list[tuple[Any, ...]]:
    import sqlalchemy as sa
    from psycopg import sql

    qualified = sql.Identifier(ledger_schema, "migrations").as_string(None)
    readable = connection.execute(
        sa.text(
            "SELECT to_regclass(:rel) IS NOT NULL"
            " AND has_table_privilege(to_regclass(:rel), 'SELECT')"
        ),
        {"rel": qualified},
    ).scalar()
    if not readable:
        return []
    # SQLAlchemy Core quotes the ledger's schema name for this connection's dialect.
    migrations = sa.table(
        "migrations",
        sa.column("name"),
        sa.column("base_schema"),
        sa.column("version_schema"),
        sa.column("active"),
        sa.column("spec"),
        schema=ledger_schema,
    )
    query = sa.select(
        migrations.c.name,
        migrations.c.base_schema,
        migrations.c.version_schema,
        migrations.c.active,
        migrations.c.spec,
    )
    return [tuple(row) for row in connection.execute(query)]
