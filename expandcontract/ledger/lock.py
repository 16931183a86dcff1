"""One ec run per database at a time: a session-level advisory lock on its own connection.

A session lock (not a transaction lock) because an apply spans many transactions, and
because PostgreSQL releases it by itself if the process dies, so a crash never wedges ec.
"""

from __future__ import annotations

import os
import socket
import zlib
from typing import Any

import psycopg

from expandcontract.errors import LedgerBusy
from expandcontract.runner import connect

# pg_try_advisory_lock(int4, int4): a fixed class id for ec, the object id from the ledger name.
_CLASS_ID = 0x6563  # "ec"

_HOLDER = """
SELECT a.pid, a.application_name, a.usename, a.client_addr::text, a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def lock_key(ledger_schema: str) -> tuple[int, int]:
    # objid is compared as an unsigned oid in pg_locks, so keep it in int4's positive range.
    return _CLASS_ID, zlib.crc32(ledger_schema.encode()) & 0x7FFFFFFF


class ExclusiveRun:
    """``with ExclusiveRun(url, schema, "ec apply"):``; raises LedgerBusy at once if taken."""

    def __init__(self, conninfo: str, ledger_schema: str, command: str) -> None:
        self.conninfo = conninfo
        self.key = lock_key(ledger_schema)
        self.command = command
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None

    def __enter__(self) -> ExclusiveRun:
        label = f"expandcontract: {self.command} ({socket.gethostname()}:{os.getpid()})"
        conn = connect(self.conninfo, application_name=label[:63])
        got = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", self.key).fetchone()
        if not got or not got[0]:
            holder = conn.execute(_HOLDER, self.key).fetchone()
            conn.close()
            who = (
                f"pid {holder[0]} ({holder[1] or 'no application name'}, user {holder[2]}, "
                f"connected since {holder[4]:%Y-%m-%d %H:%M:%S})"
                if holder
                else "another session"
            )
            raise LedgerBusy(
                f"another ec run is already working on this database: {who}",
                "wait for it to finish; if its process died, PostgreSQL frees the lock when "
                "that session ends",
            )
        self._conn = conn
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            if not self._conn.broken:
                self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", self.key)
            self._conn.close()
            self._conn = None
