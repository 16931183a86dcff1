"""Who is ec waiting for? A watcher samples pg_blocking_pids while a statement waits on a lock.

After a lock timeout the wait is over and pg_blocking_pids is empty again, so the
blockers must be observed *during* the wait, from a second connection.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg

from expandcontract.events import Blocker
from expandcontract.runner.reconnect import ConnectionFailed, connect, is_alive

_BLOCKERS_SQL = """
SELECT a.pid, a.usename, a.application_name, a.state, a.query,
       extract(epoch FROM clock_timestamp() - a.xact_start)::float8,
       w.mode, w.relation::regclass::text
FROM unnest(pg_blocking_pids(%(pid)s)) AS b(pid)
JOIN pg_stat_activity a ON a.pid = b.pid
LEFT JOIN LATERAL (
    SELECT l.mode, l.relation FROM pg_locks l
    WHERE l.pid = %(pid)s AND NOT l.granted LIMIT 1
) w ON true
ORDER BY a.xact_start NULLS LAST
"""


class LockWatcher:
    """Samples the blockers of one backend while a statement runs.

    The first sample is taken only after ``grace_s``: fast statements cost no extra query.
    """

    def __init__(self, conninfo: str, *, interval_s: float = 0.05, grace_s: float = 0.05) -> None:
        self._conninfo = conninfo
        self._interval = interval_s
        self._grace = grace_s
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.blockers: tuple[Blocker, ...] = ()
        self.wait_s = 0.0

    def start(self, pid: int) -> None:
        self.blockers = ()
        self.wait_s = 0.0
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(pid,), daemon=True)
        self._thread.start()

    def stop(self) -> tuple[Blocker, ...]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        return self.blockers

    def close(self) -> None:
        self.stop()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _run(self, pid: int) -> None:
        if self._stop.wait(self._grace):
            return
        try:
            conn = self._conn
            if conn is None or not is_alive(conn):
                # No waiting for a server that is away: the step's own retry handles that.
                conn = self._conn = connect(
                    self._conninfo, application_name="expandcontract-watch", retry_s=0
                )
            last = time.monotonic()
            while not self._stop.is_set():
                rows = conn.execute(_BLOCKERS_SQL, {"pid": pid}).fetchall()
                now = time.monotonic()
                if rows:
                    self.wait_s += now - last
                    self.blockers = tuple(_blocker(r) for r in rows)
                last = now
                self._stop.wait(self._interval)
        except (psycopg.Error, ConnectionFailed):
            # Diagnostics must never break the statement they observe.
            return


def _blocker(row: tuple[object, ...]) -> Blocker:
    pid, user, app, state, query, age, mode, rel = row
    return Blocker(
        pid=int(str(pid)),
        user=None if user is None else str(user),
        application=str(app) if app else None,
        state=None if state is None else str(state),
        query=None if query is None else str(query),
        xact_age_s=None if age is None else float(str(age)),
        wait_mode=None if mode is None else str(mode),
        relation=None if rel is None else str(rel),
    )
