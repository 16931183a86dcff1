"""One ec run per database at a time: a session-level advisory lock on its own connection.

A session lock (not a transaction lock) because an apply spans many transactions, and
because PostgreSQL releases it by itself if the process dies, so a crash never wedges ec.
The flip side: if that session ends while ec goes on (pg_terminate_backend, a server
restart), the lock is gone and another run may take it. So a run checks that it still holds
the lock before every step and every backfill batch (``check`` / ``run_is_current``).

Every run that takes the lock stamps the ledger with a new *run generation* first thing. A run
whose lock session ended takes the lock again only if the generation is still its own: then
no other run has held the lock in between, and going on is as safe as if the session had never
ended (a server restart mid-apply is survived). Otherwise it stops at once: another run holds
the lock, or has come and gone.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import zlib
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql

from expandcontract.errors import ECError, LedgerBusy
from expandcontract.runner import connect
from expandcontract.runner.reconnect import DEFAULT_RETRY_S, ConnectionFailed

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

GENERATION_KEY = "run_generation"  # in the ledger's meta table
_HAS_META = """
SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = 'meta'
"""
# Who holds the lock now, whoever it is (a run that took it again has a new pid).
_HELD = """
SELECT EXISTS (
  SELECT 1 FROM pg_locks
  WHERE locktype = 'advisory' AND granted AND classid = %s AND objid = %s AND objsubid = 2
    AND mode = 'ExclusiveLock'
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
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


def _no_idle_timeout(conn: psycopg.Connection[Any]) -> None:
    """The lock session idles through long steps: a server-wide idle_session_timeout
    (PostgreSQL 14+) must not end it and free the lock."""
    if conn.info.server_version >= 140000:
        conn.execute("SET idle_session_timeout = 0")


def lock_key(ledger_schema: str) -> tuple[int, int]:
    # objid is compared as an unsigned oid in pg_locks, so keep it in int4's positive range.
    return _CLASS_ID, zlib.crc32(ledger_schema.encode()) & 0x7FFFFFFF


def lock_still_held(conn: psycopg.Connection[Any], classid: int, objid: int, pid: int) -> bool:
    """Whether backend ``pid`` still holds ec's run lock (``classid``, ``objid``); asked from
    any session of the same database, e.g. a backfill worker's."""
    row = conn.execute(_HELD_BY, (classid, objid, pid)).fetchone()
    return bool(row and row[0])


def read_generation(conn: psycopg.Connection[Any], ledger_schema: str) -> int | None:
    """The ledger's run generation (None before a run stamped it, or without a ledger)."""
    if conn.execute(_HAS_META, (ledger_schema,)).fetchone() is None:
        return None
    row = conn.execute(
        sql.SQL("SELECT value FROM {} WHERE key = %s").format(
            sql.Identifier(ledger_schema, "meta")
        ),
        (GENERATION_KEY,),
    ).fetchone()
    return int(row[0]) if row else None


def run_is_current(
    conn: psycopg.Connection[Any], ledger_schema: str, classid: int, objid: int, generation: int
) -> bool | None:
    """From any session: True while some session holds the run lock and the ledger's run
    generation is ``generation``; False once another run stamped it; None while nobody holds
    the lock (its run may be taking it again after a lost session)."""
    if read_generation(conn, ledger_schema) != generation:
        return False
    row = conn.execute(_HELD, (classid, objid)).fetchone()
    return True if row and row[0] else None


def run_lock_holder(conn: psycopg.Connection[Any], ledger_schema: str) -> tuple[Any, ...] | None:
    """(pid, application_name, user, client address, backend start) of the session holding
    the run lock of ``ledger_schema``, or None when no ec run is alive."""
    return conn.execute(_HOLDER, lock_key(ledger_schema)).fetchone()


def _who(holder: tuple[Any, ...] | None) -> str:
    if holder is None:
        return "another session"
    return (
        f"pid {holder[0]} ({holder[1] or 'no application name'}, user {holder[2]}, "
        f"connected since {holder[4]:%Y-%m-%d %H:%M:%S})"
    )


@contextlib.contextmanager
def _closed_on_error(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """__exit__ does not run when __enter__ fails: end the lock session on any error, which
    frees the lock now rather than whenever the connection object is collected."""
    try:
        yield
    except BaseException:
        conn.close()
        raise


class SharedRun:
    """``with SharedRun(url, schema, "ec backfill run"):`` a standalone backfill holds ec's run
    lock in shared mode: several backfills (and hosts joining one) run together, but no
    migration command - which needs the lock exclusively - runs while one does, and none starts
    while a migration command runs. Raises LedgerBusy at once if a command holds it."""

    def __init__(self, conninfo: str, ledger_schema: str, command: str) -> None:
        self.conninfo = conninfo
        self.key = lock_key(ledger_schema)
        self.label = f"expandcontract: {command} ({socket.gethostname()}:{os.getpid()})"[:63]
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None

    def __enter__(self) -> SharedRun:
        conn = connect(self.conninfo, application_name=self.label)
        with _closed_on_error(conn):
            _no_idle_timeout(conn)
            got = conn.execute("SELECT pg_try_advisory_lock_shared(%s, %s)", self.key).fetchone()
            if not got or not got[0]:
                holder = conn.execute(_HOLDER, self.key).fetchone()
                raise LedgerBusy(
                    f"an ec migration command is working on this database: {_who(holder)}",
                    "wait for it to finish, then run the backfill again",
                )
        self._conn = conn
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):  # a session that is gone holds nothing
                self._conn.execute("SELECT pg_advisory_unlock_shared(%s, %s)", self.key)
            self._conn.close()
            self._conn = None


class ExclusiveRun:
    """``with ExclusiveRun(url, schema, "ec apply") as run:``; raises LedgerBusy at once if
    taken. ``run.check()`` before each step raises RunLockLost if the lock is gone."""

    def __init__(
        self, conninfo: str, ledger_schema: str, command: str, *, retry_s: float = DEFAULT_RETRY_S
    ) -> None:
        self.conninfo = conninfo
        self.ledger_schema = ledger_schema
        self.key = lock_key(ledger_schema)
        self.command = command
        self.retry_s = retry_s  # how long to wait for the server when taking the lock again
        self.generation: int | None = None
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self._pid: int | None = None

    @property
    def _label(self) -> str:
        return f"expandcontract: {self.command} ({socket.gethostname()}:{os.getpid()})"[:63]

    def __enter__(self) -> ExclusiveRun:
        conn = connect(self.conninfo, application_name=self._label)
        with _closed_on_error(conn):
            _no_idle_timeout(conn)
            got = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", self.key).fetchone()
            if not got or not got[0]:
                holder = conn.execute(_HOLDER, self.key).fetchone()
                raise LedgerBusy(
                    f"another ec run is already working on this database: {_who(holder)}",
                    "wait for it to finish; if its process died, PostgreSQL frees the lock when "
                    "that session ends",
                )
            self._conn = conn
            self._pid = conn.info.backend_pid
            try:
                self.stamp()  # fails without write access to the ledger
            except BaseException:
                self._conn = self._pid = None
                raise
        return self

    def stamp(self) -> None:
        """A new run generation in the ledger (if there is a ledger yet): from now on a run
        that lost its session cannot take the lock again. Call again once the ledger exists."""
        assert self._conn is not None
        if self._conn.execute(_HAS_META, (self.ledger_schema,)).fetchone() is None:
            return
        meta = sql.Identifier(self.ledger_schema, "meta")
        row = self._conn.execute(
            sql.SQL(
                "INSERT INTO {m} (key, value) VALUES (%s, '1') ON CONFLICT (key) DO UPDATE"
                " SET value = ({m}.value::bigint + 1)::text RETURNING value"
            ).format(m=meta),
            (GENERATION_KEY,),
        ).fetchone()
        self.generation = int(row[0]) if row else None

    def fence(self, conn: psycopg.Connection[Any]) -> None:
        """Inside a transaction of this run: raise RunLockLost if another run has stamped the
        ledger, and hold that stamp off (row share lock) until this transaction ends. So no
        work of this run commits after another run took over, whatever the timing."""
        if self.generation is None:
            return
        row = conn.execute(
            sql.SQL("SELECT value FROM {} WHERE key = %s FOR SHARE").format(
                sql.Identifier(self.ledger_schema, "meta")
            ),
            (GENERATION_KEY,),
        ).fetchone()
        if not row or int(row[0]) != self.generation:
            raise RunLockLost(f"{LOST_MESSAGE}; its work in progress was rolled back", LOST_HINT)

    def token(self) -> tuple[int, int, int] | None:
        """(classid, objid, generation) for ``run_is_current`` elsewhere (backfill workers
        get it as ``BackfillSettings.run_lock``); None before the ledger exists."""
        return None if self.generation is None else (*self.key, self.generation)

    def holder(self) -> tuple[int, int, int]:
        """(classid, objid, pid) of the held lock, for ``lock_still_held`` elsewhere (backfill
        workers get it as ``BackfillSettings.run_lock``)."""
        if self._pid is None:
            raise RuntimeError("ExclusiveRun.holder() outside its with block")
        return self.key[0], self.key[1], self._pid

    def check(self, before: str = "the next step") -> None:
        """Return while our session holds the lock, or once it took the lock again with the
        run generation unchanged (no other run held it meanwhile); raise RunLockLost else."""
        if self._conn is not None and self._pid is not None and not self._conn.broken:
            try:
                if lock_still_held(self._conn, *self.key, self._pid):
                    return
            except psycopg.Error:
                pass
        self._retake(before)

    def _retake(self, before: str) -> None:
        lost = RunLockLost(f"{LOST_MESSAGE}; stopped before {before}", LOST_HINT)
        self._close()
        if self.generation is None:
            raise lost
        deadline = time.monotonic() + self.retry_s
        while True:
            try:
                if self._try_retake():
                    return
                raise lost
            except (ConnectionFailed, psycopg.OperationalError):
                # The server went away again while we were taking the lock back: wait for it.
                self._close()
                if time.monotonic() >= deadline:
                    raise lost from None
                time.sleep(0.2)

    def _try_retake(self) -> bool:
        """Take the lock again if the ledger still carries our run generation."""
        conn = connect(self.conninfo, application_name=self._label, retry_s=self.retry_s)
        _no_idle_timeout(conn)
        got = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", self.key).fetchone()
        if got and got[0] and read_generation(conn, self.ledger_schema) == self.generation:
            self._conn, self._pid = conn, conn.info.backend_pid
            return True
        with contextlib.suppress(psycopg.Error):
            if got and got[0]:
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", self.key)
        conn.close()
        return False

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn, self._pid = None, None

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            if not self._conn.broken:
                with contextlib.suppress(psycopg.Error):  # a session that is gone holds nothing
                    self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", self.key)
            self._conn.close()
            self._conn = None
            self._pid = None
