"""One ec run per database at a time: a session-level advisory lock on its own connection.

A session lock (not a transaction lock) because an apply spans many transactions, and
because PostgreSQL releases it by itself if the process dies, so a crash never wedges ec.
The flip side: if that session ends while ec goes on (pg_terminate_backend, a server
restart), the lock is gone and another run may take it. So a run checks that it still holds
the lock before every step and every backfill batch (``check`` / ``lock_still_held``) and
stops at once when it does not; it never takes the lock again by itself, since another run
may have come and gone in between.
"""

from __future__ import annotations

import contextlib
import os
import socket
import zlib
from typing import Any

import psycopg

from expandcontract.errors import ECError, LedgerBusy
from expandcontract.runner import connect

# pg_try_advisory_lock(int4, int4): a fixed class id for ec, the object id from the ledger name.
_CLASS_ID = 0x6563  # "ec"

_HOLDER = """
SELECT a.pid, a.application_name, a.usename, a.client_addr::text, a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""

# objsubid 2: the two-int4 form of the advisory lock functions.
_HELD_BY = """
SELECT EXISTS (
  SELECT 1 FROM pg_locks
  WHERE locktype = 'advisory' AND granted AND classid = %s AND objid = %s AND objsubid = 2
    AND pid = %s AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
)
"""

LOST_MESSAGE = "lost ec's run lock (its session ended): another ec run may have started"
LOST_HINT = (
    "check with `ec status` that no other ec run is working on this database, then re-run "
    "the command: ec resumes where it stopped"
)


class RunLockLost(ECError):
    """The session holding ec's run lock ended while the run went on: stop before the next
    step or batch, since another ec run may hold the lock now."""


def lock_key(ledger_schema: str) -> tuple[int, int]:
    # objid is compared as an unsigned oid in pg_locks, so keep it in int4's positive range.
    return _CLASS_ID, zlib.crc32(ledger_schema.encode()) & 0x7FFFFFFF


def lock_still_held(conn: psycopg.Connection[Any], classid: int, objid: int, pid: int) -> bool:
    """Whether backend ``pid`` still holds ec's run lock (``classid``, ``objid``); asked from
    any session of the same database, e.g. a backfill worker's."""
    row = conn.execute(_HELD_BY, (classid, objid, pid)).fetchone()
    return bool(row and row[0])


def run_lock_holder(conn: psycopg.Connection[Any], ledger_schema: str) -> tuple[Any, ...] | None:
    """(pid, application_name, user, client address, backend start) of the session holding
    the run lock of ``ledger_schema``, or None when no ec run is alive."""
    return conn.execute(_HOLDER, lock_key(ledger_schema)).fetchone()


class ExclusiveRun:
    """``with ExclusiveRun(url, schema, "ec apply") as run:``; raises LedgerBusy at once if
    taken. ``run.check()`` before each step raises RunLockLost if the lock is gone."""

    def __init__(self, conninfo: str, ledger_schema: str, command: str) -> None:
        self.conninfo = conninfo
        self.key = lock_key(ledger_schema)
        self.command = command
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self._pid: int | None = None

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
        self._pid = conn.info.backend_pid
        return self

    def holder(self) -> tuple[int, int, int]:
        """(classid, objid, pid) of the held lock, for ``lock_still_held`` elsewhere (backfill
        workers get it as ``BackfillSettings.run_lock``)."""
        if self._pid is None:
            raise RuntimeError("ExclusiveRun.holder() outside its with block")
        return self.key[0], self.key[1], self._pid

    def check(self, before: str = "the next step") -> None:
        """Raise RunLockLost unless our session is alive and still holds the lock. The lock is
        never taken again here: another run may hold it, or have come and gone."""
        held = False
        if self._conn is not None and self._pid is not None and not self._conn.broken:
            try:
                held = lock_still_held(self._conn, *self.key, self._pid)
            except psycopg.Error:
                held = False
        if not held:
            raise RunLockLost(f"{LOST_MESSAGE}; stopped before {before}", LOST_HINT)

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            if not self._conn.broken:
                with contextlib.suppress(psycopg.Error):  # a session that is gone holds nothing
                    self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", self.key)
            self._conn.close()
            self._conn = None
            self._pid = None
