"""Sessions blocked by the backfill. Our row locks exist only while a batch runs, so a
watcher thread samples, during each batch, the lock waiters whose blockers are backfill
sessions (any worker of this backfill: they share an application_name)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psycopg

from expandcontract.backfill.throttles.base import ProbeContext, Reading
from expandcontract.runner.runner import Connection, connect

# pg_blocking_pids only for sessions that are actually waiting on a lock: cheap when idle.
_BLOCKED_BY_US = """
SELECT count(*) FROM pg_stat_activity w
WHERE w.wait_event_type = 'Lock' AND w.pid <> pg_backend_pid()
  AND EXISTS (SELECT 1 FROM unnest(pg_blocking_pids(w.pid)) AS p(pid)
              JOIN pg_stat_activity b ON b.pid = p.pid WHERE b.application_name = %s)
"""


class BlockingWatch:
    """Start around each batch; ``seen`` is the most sessions found blocked at once."""

    def __init__(self, conninfo: str, application_name: str, *, interval_s: float = 0.025) -> None:
        self._conninfo = conninfo
        self._app = application_name
        self._interval = interval_s
        self._conn: Connection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.seen = 0  # most sessions blocked at once since the signal last read it
        self.batch_seen = 0  # the same, during the current/last batch only

    def start(self) -> None:
        self.batch_seen = 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True, name="ec-blocking-watch")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def take(self) -> int:
        seen, self.seen = self.seen, 0
        return seen

    def _run(self) -> None:
        # Grace period: fast batches cost no query at all.
        while not self._stop.wait(self._interval):
            try:
                if self._conn is None or self._conn.closed or self._conn.broken:
                    # No waiting for a server that is away: this is a diagnostic, and
                    # stop() joins this thread before the next batch.
                    self._conn = connect(
                        self._conninfo, application_name="ec-backfill-watch", retry_s=0
                    )
                row = self._conn.execute(_BLOCKED_BY_US, (self._app,)).fetchone()
            except (psycopg.Error, Exception):
                return
            if row and row[0]:
                self.seen = max(self.seen, int(row[0]))
                self.batch_seen = max(self.batch_seen, int(row[0]))

    def close(self) -> None:
        self.stop()
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class BlockedSessions:
    """Breached after a batch that blocked someone, and for ``pause_s`` after it: while
    paused no batch runs, so nothing is blocked, and the cooldown is what lets the queue of
    waiting application sessions drain before the next batch."""

    name = "blocking"

    def __init__(
        self,
        watch: BlockingWatch,
        pause_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.watch = watch
        self.pause_s = pause_s
        self._clock = clock
        self._until = float("-inf")
        self._last = 0

    def read(self, ctx: ProbeContext) -> Reading:
        seen = self.watch.take()
        if seen:
            self._until = self._clock() + self.pause_s
            self._last = seen
        if self._clock() < self._until:
            return Reading.stop(
                f"{self._last} session(s) waited on locks held by the backfill", self._last
            )
        return Reading.ok("no session blocked by the backfill", 0)
