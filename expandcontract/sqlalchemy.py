"""Bind a SQLAlchemy Engine to an app version: a version schema name, or ``"current"``.

Every transaction starts by declaring its version with ``SET LOCAL``-style settings
(``expandcontract.version`` and ``search_path``), so it also works behind PgBouncer in
transaction mode, where session settings do not survive. A fixed version additionally uses
``schema_translate_map`` so tables resolve to that version's views even in explicit-schema
models. ``"current"`` asks the ledger at each transaction start, so apps follow
``ec switch`` / ``ec switch --back`` without a redeploy.

    from expandcontract.sqlalchemy import bind_version
    engine = bind_version(create_engine(url), "current")
"""

from __future__ import annotations

from typing import Any

from psycopg import sql
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from expandcontract.engine.selector import SETTING
from expandcontract.engine.versions import current_sql


def _declare(version: sql.Composable, base: str) -> sql.Composed:
    # Both settings are transaction-local (is_local = true); the chosen version comes back.
    return sql.SQL(
        "SELECT set_config({setting}, v, true),"
        " set_config('search_path', quote_ident(v) || ', ' || quote_ident({base}), true)"
        " FROM (SELECT {version} AS v) AS chosen"
    ).format(setting=sql.Literal(SETTING), base=sql.Literal(base), version=version)


def declare_version_sql(
    version: str, *, base_schema: str = "public", ledger_schema: str = "expandcontract"
) -> str:
    """The statement that makes a transaction run as ``version`` (or the current version)."""
    if version == "current":
        chooser: sql.Composable = current_sql(ledger_schema, base_schema)
    else:
        chooser = sql.Literal(version)
    return _declare(chooser, base_schema).as_string(None)


def bind_version(
    engine: Engine,
    version: str,
    *,
    base_schema: str = "public",
    ledger_schema: str = "expandcontract",
) -> Engine:
    """An Engine sharing ``engine``'s pool whose transactions run as ``version``.

    Tables declared without a schema or with the base schema resolve to the version's views:
    each transaction re-points ``schema_translate_map`` at the version it declared.
    """
    statement = declare_version_sql(version, base_schema=base_schema, ledger_schema=ledger_schema)
    # The same keys on every map: SQLAlchemy's compiled-statement cache relies on it.
    start = version if version != "current" else base_schema
    bound = engine.execution_options(schema_translate_map={None: start, base_schema: start})

    @event.listens_for(bound, "begin")
    def _declare_version(conn: Connection) -> None:
        chosen = conn.exec_driver_sql(statement).scalar()
        current = str(chosen or base_schema)
        conn.execution_options(schema_translate_map={None: current, base_schema: current})

    return bound


def version_of(conn: Connection) -> Any:
    """The version the current transaction runs as (for diagnostics and tests)."""
    return conn.exec_driver_sql("SELECT current_setting(%s, true)", (SETTING,)).scalar()
