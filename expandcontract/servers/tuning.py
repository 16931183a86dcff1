"""Settings for throwaway servers: durability off (nothing here must survive a crash)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

# Changeable with a reload (no restart), so they also apply to servers we did not initdb.
THROWAWAY_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


def apply_test_settings(conn: psycopg.Connection[tuple[Any, ...]]) -> None:
    for name, value in THROWAWAY_SETTINGS.items():
        conn.execute(
            sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
        )
    conn.execute("SELECT pg_reload_conf()")


def server_options() -> list[str]:
    """The same settings as ``postgres -c`` options, for servers we start ourselves."""
    return [f"-c {name}={value}" for name, value in THROWAWAY_SETTINGS.items()]
