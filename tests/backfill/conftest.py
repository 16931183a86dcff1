"""Helpers for backfill tests: small tables, fast settings, ledger inspection."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from expandcontract.backfill import BackfillSettings

# A private server that tests may restart (one per test module that asks for it).
from tests.runner.restartable import restartable  # noqa: F401

# Fast reactions for tests: short checks, backoffs and leases; signals that depend on the
# shared test server's state (dead tuples, active sessions) are switched on per test.
FAST = BackfillSettings(
    check_interval_s=0.05,
    backoff_min_s=0.05,
    backoff_max_s=0.2,
    lease_s=5,
    max_dead_tuple_ratio=None,
    active_sessions_factor=None,
    clear_checks=1,
)


def fixed(size: int, **changes: Any) -> BackfillSettings:
    """Fixed-size batches (no adaptation), for tests that count batches."""
    return FAST.replace(batch_start_rows=size, batch_min_rows=size, batch_max_rows=size, **changes)


def make_table(conn: psycopg.Connection[Any], rows: int = 2000, name: str = "items") -> None:
    conn.execute(
        f"CREATE TABLE {name} (id bigint PRIMARY KEY, a integer NOT NULL, b integer, note text)"
    )
    conn.execute(
        f"INSERT INTO {name} SELECT g, g, NULL, 'n' FROM generate_series(1, %s) g", (rows,)
    )
    conn.execute(f"ANALYZE {name}")


def wrong_rows(conn: psycopg.Connection[Any], table: str = "items", expr: str = "a * 2") -> int:
    row = conn.execute(f"SELECT count(*) FROM {table} WHERE b IS DISTINCT FROM {expr}").fetchone()
    assert row is not None
    return int(row[0])


def batches(
    conn: psycopg.Connection[Any], name: str, phase: str = "backfill"
) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT range_no, from_key, to_key, rows_scanned, rows_updated FROM"
        " expandcontract.backfill_batches WHERE backfill = %s AND phase = %s ORDER BY range_no, id",
        (name, phase),
    ).fetchall()


def assert_chained(conn: psycopg.Connection[Any], name: str, phase: str = "backfill") -> None:
    """Per range, every batch starts exactly where the previous committed one ended."""
    ranges = conn.execute(
        "SELECT range_no, lo, hi, status FROM expandcontract.backfill_ranges"
        " WHERE backfill = %s AND phase = %s ORDER BY range_no",
        (name, phase),
    ).fetchall()
    assert ranges and all(r[3] == "done" for r in ranges), ranges
    by_range: dict[int, list[tuple[Any, ...]]] = {}
    for b in batches(conn, name, phase):
        by_range.setdefault(b[0], []).append(b)
    for range_no, lo, _hi, _ in ranges:
        previous: Any = lo if isinstance(lo, int) else None
        for b in by_range.get(range_no, []):
            assert b[1] == previous, (range_no, b, previous)
            previous = b[2]


class Events:
    """Collects on_progress events; lets a test wait for one."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._cond = threading.Condition()

    def __call__(self, event: dict[str, Any]) -> None:
        with self._cond:
            self.items.append(event)
            self._cond.notify_all()

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self._cond:
            return [e for e in self.items if e["event"] == kind]

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0
    ) -> dict[str, Any]:
        with self._cond:
            found: list[dict[str, Any]] = []

            def check() -> bool:
                found[:] = [e for e in self.items if predicate(e)]
                return bool(found)

            assert self._cond.wait_for(check, timeout), f"event not seen; got {self.items[-5:]}"
            return found[0]


class Background:
    """Run a callable in a thread; ``result()`` re-raises its exception."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._result: Any = None
        self._error: BaseException | None = None

        def target() -> None:
            try:
                self._result = fn()
            except BaseException as exc:
                self._error = exc

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def result(self, timeout: float = 60.0) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "background run did not finish"
        if self._error is not None:
            raise self._error
        return self._result


@pytest.fixture
def events() -> Iterator[Events]:
    yield Events()


def ec_cli(args: list[str], url: str, **kwargs: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "EC_DATABASE_URL": url}
    return subprocess.Popen(
        [sys.executable, "-c", "from expandcontract.cli import main; main()", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )
