"""A failed CREATE INDEX CONCURRENTLY leaves an INVALID index that still slows every write.

Before a retry (and before a resumed run builds it again) the leftover is dropped.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

_INVALID = """
SELECT 1 FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND NOT i.indisvalid
"""


def is_invalid(conn: psycopg.Connection[tuple[Any, ...]], schema: str, index: str) -> bool:
    return conn.execute(_INVALID, (schema, index)).fetchone() is not None


def drop_if_invalid(
    conn: psycopg.Connection[tuple[Any, ...]], schema: str, index: str, *, lock_timeout_ms: int
) -> bool:
    """Drop ``schema.index`` if it exists and is INVALID. Returns whether it dropped one.

    DROP INDEX CONCURRENTLY cannot run in a transaction, so this needs an autocommit
    connection with no transaction open.
    """
    if not is_invalid(conn, schema, index):
        return False
    conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{lock_timeout_ms}ms",))
    try:
        conn.execute(
            sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(schema, index))
        )
    finally:
        if not conn.broken:
            conn.execute("RESET lock_timeout")
    return True
