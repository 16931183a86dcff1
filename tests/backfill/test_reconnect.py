"""Connections and servers come back: every kind of backfill session terminated mid-run, and a
server restart mid-run, end with exact data and without re-running anything; past the
reconnect bound the run stops with an error that says it resumes; a run that is gone (kill -9)
is shown as interrupted, not running."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from expandcontract.backfill import BackfillFailed, backfill_status, run_backfill
from expandcontract.ledger import Ledger
from expandcontract.runner import SafeRunner
from tests.backfill.conftest import (
    Background,
    Events,
    assert_chained,
    batches,
    ec_cli,
    fixed,
    make_table,
    wrong_rows,
)
from tests.runner.restartable import RestartableServer

SLOW = (
    "CREATE FUNCTION slowish(v int) RETURNS int LANGUAGE sql IMMUTABLE AS"
    " $$ SELECT v * 2 FROM (SELECT pg_sleep(0.002)) s $$"
)


class Killer:
    """Terminates the backfill sessions whose application_name matches, ``rounds`` times."""

    def __init__(self, url: str, pattern: str, *, rounds: int, gap_s: float = 0.3) -> None:
        self.url = url
        self.pattern = pattern
        self.rounds = rounds
        self.gap_s = gap_s
        self.killed: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with (
            contextlib.suppress(psycopg.OperationalError),
            psycopg.connect(self.url, autocommit=True) as conn,
        ):
            done = 0
            while done < self.rounds and not self.stop.wait(0.01):
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid), pid FROM pg_stat_activity"
                    " WHERE application_name LIKE %s AND pid <> pg_backend_pid()",
                    (self.pattern,),
                ).fetchall()
                if rows:
                    self.killed += [int(r[1]) for r in rows if r[0]]
                    done += 1
                    time.sleep(self.gap_s)

    def join(self) -> list[int]:
        self.stop.set()
        self.thread.join()
        return self.killed


def _run(url: str, name: str, events: Events, **settings: Any) -> Any:
    return run_backfill(
        url,
        table="items",
        assignments={"b": "slowish(a)"},
        name=name,
        settings=fixed(20, **settings),
        on_progress=events,
    )


def _exact(conn: psycopg.Connection[Any], name: str, rows: int, result: Any) -> None:
    assert wrong_rows(conn) == 0
    assert result.rows_updated == rows and result.rows_scanned == rows
    assert sum(b[4] for b in batches(conn, name)) == rows  # each row by one committed batch
    assert_chained(conn, name)


def _run_and_kill(url: str, name: str, pattern: str, rounds: int) -> tuple[Any, list[int]]:
    """Start the run; once its batches run, terminate the matching sessions ``rounds`` times."""
    events = Events()
    run = Background(lambda: _run(url, name, events))
    events.wait_for(lambda e: e["event"] == "batch")
    killer = Killer(url, pattern, rounds=rounds)
    try:
        result = run.result(120)
    finally:
        killed = killer.join()
    return result, killed


def test_all_backfill_sessions_terminated_repeatedly_mid_run(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    make_table(ec_conn, 600)
    ec_conn.execute(SLOW)
    result, killed = _run_and_kill(ec_db.url, "every", "ec-backfill%:every", rounds=3)
    assert len(killed) >= 3
    _exact(ec_conn, "every", 600, result)


@pytest.mark.parametrize("kind", ["ec-backfill:", "ec-backfill-monitor:"])
def test_each_worker_session_terminated_mid_run(
    ec_db: Any, ec_conn: psycopg.Connection[Any], kind: str
) -> None:
    make_table(ec_conn, 600)
    ec_conn.execute(SLOW)
    result, killed = _run_and_kill(ec_db.url, "one", f"{kind}one", rounds=2)
    assert len(killed) >= 2, "the session kind exists and was terminated"
    _exact(ec_conn, "one", 600, result)


def test_coordinator_session_terminated_while_waiting_for_another_run(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    """Two runs of one backfill (as from two hosts): the one without a range to claim polls
    until the other finishes; its polling session is terminated meanwhile."""
    make_table(ec_conn, 600)
    ec_conn.execute(SLOW)
    first_events, second_events = Events(), Events()
    first = Background(lambda: _run(ec_db.url, "pair", first_events))
    first_events.wait_for(lambda e: e["event"] == "batch")
    killer = Killer(ec_db.url, "ec-backfill-coord:pair", rounds=2)
    second = Background(lambda: _run(ec_db.url, "pair", second_events))
    try:
        first.result(120)
        second.result(120)
    finally:
        killed = killer.join()
    assert len(killed) >= 2
    assert wrong_rows(ec_conn) == 0
    assert sum(b[4] for b in batches(ec_conn, "pair")) == 600
    assert_chained(ec_conn, "pair")


@pytest.mark.parametrize("workers", [1, 2])
def test_server_restart_mid_backfill_is_survived(
    restartable: RestartableServer, events: Events, workers: int
) -> None:
    url = restartable.new_database()
    with psycopg.connect(url, autocommit=True) as conn:
        make_table(conn, 600)
        conn.execute(SLOW)
    run = Background(lambda: _run(url, f"restart{workers}", events, workers=workers, lease_s=30))
    events.wait_for(lambda e: e["event"] == "batch")
    restarted = dt.datetime.now(dt.UTC)
    restartable.restart(1.0)
    before = len(events.of("batch"))
    result = run.result(120)
    assert len(events.of("batch")) > before  # the run went on after the restart
    with psycopg.connect(url, autocommit=True) as conn:
        started: Any = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
        assert started[0] > restarted  # the server did restart under the run
        assert wrong_rows(conn) == 0
        assert result.rows_updated == 600 and result.verified
        assert sum(b[4] for b in batches(conn, f"restart{workers}")) == 600
        assert_chained(conn, f"restart{workers}")


def test_beyond_the_reconnect_bound_it_stops_resumable(
    restartable: RestartableServer, events: Events
) -> None:
    url = restartable.new_database()
    with psycopg.connect(url, autocommit=True) as conn:
        make_table(conn, 600)
        conn.execute(SLOW)
    run = Background(lambda: _run(url, "bound", events, reconnect_max_s=1.0))
    events.wait_for(lambda e: e["event"] == "batch")
    restartable.stop_pg()
    # Back well after the bound: the run has given up by then (and can record that).
    starter = threading.Timer(5.0, restartable.start_pg)
    starter.start()
    try:
        with pytest.raises(BackfillFailed) as info:
            run.result(90)
    finally:
        starter.join()
    assert "did not come back within 1s" in info.value.message
    assert info.value.hint and "--name bound" in info.value.hint and "resume" in info.value.hint
    result = _run(url, "bound", Events())  # resumes from the committed batches
    with psycopg.connect(url, autocommit=True) as conn:
        assert wrong_rows(conn) == 0
        assert sum(b[4] for b in batches(conn, "bound")) == 600 == result.rows_updated


def _wait(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)


def test_a_killed_run_is_shown_interrupted_not_running(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    make_table(ec_conn, 600)
    ec_conn.execute(SLOW)
    args = ["backfill", "run", "--table", "items", "--set", "b = slowish(a)", "--name", "gone",
            "--json", "--setting", "batch_start_rows=20", "--setting", "batch_max_rows=20",
            "--setting", "lease_s=2", "--setting", "max_dead_tuple_ratio=off",
            "--setting", "active_sessions_factor=off"]  # fmt: skip
    proc = ec_cli(args, ec_db.url)
    assert proc.stdout is not None
    for line in proc.stdout:
        if json.loads(line)["event"] == "batch":
            break
    [alive] = backfill_status(ec_db.url, "gone")
    assert alive["status"] == "running"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _wait(lambda: backfill_status(ec_db.url, "gone")[0]["status"] != "running")
    [dead] = backfill_status(ec_db.url, "gone")
    assert dead["status"] == "interrupted"
    assert dt.datetime.fromisoformat(dead["last_seen"]) < dt.datetime.now(dt.UTC)
    assert "ec backfill run --table items --set 'b = slowish(a)' --name gone" in dead["hint"]
    with SafeRunner(ec_db.url, sink=None) as runner:
        [listed] = Ledger(runner).status()["backfills"]
    assert listed["status"] == "interrupted" and "--name gone" in listed["hint"]
    # The record itself still says running; the resumed run finishes it.
    row = ec_conn.execute("SELECT status FROM expandcontract.backfills").fetchone()
    assert row == ("running",)
    proc = ec_cli(args, ec_db.url)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert wrong_rows(ec_conn) == 0
    [finished] = backfill_status(ec_db.url, "gone")
    assert finished["status"] == "done"


def test_a_rate_capped_run_stays_alive_while_it_paces(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    """Pacing waits longer than the lease (1,000-row batches at 100 rows/s: 10 s each, lease
    3 s) renew the lease and the heartbeat: the run is never shown interrupted. A 10 s batch
    target lets the cap allow 1,000-row batches (it keeps batches to one target time's share)."""
    import threading

    from expandcontract.backfill import BackfillCancelled, backfill_status, cancel_backfill

    make_table(ec_conn, rows=3000)
    settings = fixed(1000, max_rows_per_second=100, lease_s=3, batch_target_ms=10_000)
    events: list[dict[str, Any]] = []

    def run() -> None:
        with contextlib.suppress(BackfillCancelled):  # how the test stops it
            run_backfill(ec_db.url, table="items", assignments={"b": "a * 2"}, name="rc",
                         settings=settings, on_progress=events.append)  # fmt: skip

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    seen = []
    try:
        for _ in range(16):
            time.sleep(0.5)
            (status,) = backfill_status(ec_db.url, "rc")
            seen.append(status["status"])
        assert thread.is_alive()
    finally:
        cancel_backfill(ec_db.url, "rc")  # stops after its current pause
        thread.join(60)
    assert not thread.is_alive()
    assert "interrupted" not in seen, seen
    sizes = [e["rows_scanned"] for e in events if e["event"] == "batch"]
    assert sizes and sizes[0] == 1000  # the long waits this test is about really happened
