"""Live app traffic for the measured demo: a few clients, each on its own connection, reading
and writing rows by primary key in a loop, every query's start, latency and error recorded.

The clients use psycopg's defaults (statements are prepared after a few runs, as most drivers
and poolers do), no statement_timeout and no retries: an app as people run it.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import psycopg

from expandcontract.demo.model import Query, measured_query
from expandcontract.dsn import to_psycopg
from expandcontract.errors import ECError

READ = "SELECT id, customer_id, amount, note FROM orders WHERE id = %s"
WRITE = "UPDATE orders SET amount = amount + 1, note = %s WHERE id = %s"
WRITE_SHARE = 0.3


class AppTraffic:
    """``clients`` app clients on ``url``; use as a context manager (always stopped)."""

    def __init__(
        self, url: str, rows: int, *, clients: int = 4, think_s: float = 0.004, seed: int = 7
    ) -> None:
        self.url = url
        self.rows = rows  # keys 1..rows exist
        self.clients = clients
        self.think_s = think_s  # a pause between one client's queries
        self.seed = seed
        self.queries: list[Query] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._version_schema: str | None = None
        self._deployment = 0
        self._started = time.perf_counter()
        self.failures: list[str] = []  # clients that could not connect at all

    def now(self) -> float:
        """Seconds since the traffic started: the clock of every query and marker."""
        return time.perf_counter() - self._started

    def __enter__(self) -> AppTraffic:
        self._started = time.perf_counter()
        ready = threading.Barrier(self.clients + 1)
        for number in range(self.clients):
            thread = threading.Thread(
                target=self._client, args=(number, ready), name=f"demo-app-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        try:
            ready.wait()
        except threading.BrokenBarrierError:
            self.stop()
            raise ECError(
                f"the demo's app clients could not connect: {'; '.join(self.failures)}"
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def deploy(self, version_schema: str | None) -> None:
        """A new app version goes live: every client reconnects before its next query, with
        ``version_schema`` first in its search_path (None: the base schema only).
        Reconnecting is not counted as query time."""
        self._version_schema = version_schema
        self._deployment += 1

    def stop(self) -> list[Query]:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        with self._lock:
            return sorted(self.queries, key=lambda q: q.start_s)

    def _connect(self) -> tuple[psycopg.Connection[Any], int]:
        deployment = self._deployment
        conn = psycopg.connect(to_psycopg(self.url), autocommit=True, application_name="demo-app")
        if self._version_schema:
            conn.execute(
                "SELECT set_config('search_path', quote_ident(%s) || ', public', false)",
                (self._version_schema,),
            )
        return conn, deployment

    def _client(self, number: int, ready: threading.Barrier) -> None:
        rng = random.Random(self.seed * 1000 + number)
        conn: psycopg.Connection[Any] | None = None
        try:
            conn, deployment = self._connect()
            ready.wait()
        except (psycopg.Error, threading.BrokenBarrierError) as exc:
            self.failures.append(f"client {number}: {exc}")
            ready.abort()
            if conn is not None:
                conn.close()
            return
        try:
            while not self._stop.is_set():
                if deployment != self._deployment or conn.broken or conn.closed:
                    conn.close()
                    fresh = self._reconnect()
                    if fresh is None:
                        time.sleep(self.think_s)
                        continue
                    conn, deployment = fresh
                self._one_query(conn, rng)
                time.sleep(self.think_s)
        finally:
            conn.close()

    def _reconnect(self) -> tuple[psycopg.Connection[Any], int] | None:
        """A new connection; one that cannot connect is an app error (recorded), retried
        before the next query."""
        started = time.perf_counter()
        try:
            return self._connect()
        except psycopg.Error as exc:
            self._record(started, f"{type(exc).__name__}: {_first_line(exc)}")
            return None

    def _one_query(self, conn: psycopg.Connection[Any], rng: random.Random) -> None:
        key = rng.randrange(1, self.rows + 1)
        write = rng.random() < WRITE_SHARE
        started = time.perf_counter()
        error = None
        try:
            if write:
                conn.execute(WRITE, (f"note {rng.randrange(10**6)}", key))
            else:
                conn.execute(READ, (key,)).fetchall()
        except psycopg.Error as exc:  # part of the measurement: what the app saw
            error = f"{type(exc).__name__}: {_first_line(exc)}"
        self._record(started, error)

    def _record(self, started: float, error: str | None) -> None:
        ended = time.perf_counter()
        query = measured_query(started - self._started, (ended - started) * 1000, error)
        with self._lock:
            self.queries.append(query)


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else ""
