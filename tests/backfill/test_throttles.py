"""Each throttle signal provably pauses the run (no batch while paused) and the run resumes
and finishes once the signal clears; every pause carries its reason."""

from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from expandcontract.backfill import (
    BackfillCancelled,
    BackfillSettings,
    backfill_status,
    cancel_backfill,
    pause_backfill,
    resume_backfill,
    run_backfill,
)
from tests.backfill.conftest import Background, Events, fixed, make_table, wrong_rows


def start(url: str, events: Events, settings: BackfillSettings, name: str = "thr") -> Background:
    return Background(
        lambda: run_backfill(
            url,
            table="items",
            assignments={"b": "a * 2"},
            name=name,
            settings=settings,
            on_progress=events,
        )
    )


def assert_paused_by(events: Events, reason: str, hold_s: float = 0.4) -> dict[str, Any]:
    """The run pauses for ``reason`` and commits no batch while paused."""
    event = events.wait_for(lambda e: e["event"] == "throttle" and reason in e["reasons"])
    before = len(events.of("batch"))
    time.sleep(hold_s)
    assert len(events.of("batch")) == before, "a batch ran while the throttle was on"
    assert not events.of("done")
    return event


def test_manual_pause_and_resume(
    ec_db: Any, ec_conn: psycopg.Connection[Any], events: Events
) -> None:
    make_table(ec_conn, 1000)
    run = start(ec_db.url, events, fixed(50, max_rows_per_second=1000))
    events.wait_for(lambda e: e["event"] == "batch")
    pause_backfill(ec_db.url, "thr")
    event = assert_paused_by(events, "manual")
    assert "paused by operator" in event["detail"]
    [status] = backfill_status(ec_db.url, "thr")
    assert status["status"] == "paused" and "paused by operator" in status["throttle_reason"]
    resume_backfill(ec_db.url, "thr")
    result = run.result()
    assert result.verified and wrong_rows(ec_conn) == 0
    assert events.of("resume")


def test_cancel_stops_and_run_resumes_later(
    ec_db: Any, ec_conn: psycopg.Connection[Any], events: Events
) -> None:
    make_table(ec_conn, 1000)
    run = start(ec_db.url, events, fixed(50, max_rows_per_second=1000))
    events.wait_for(lambda e: e["event"] == "batch")
    cancel_backfill(ec_db.url, "thr")
    with pytest.raises(BackfillCancelled):
        run.result()
    [status] = backfill_status(ec_db.url, "thr")
    assert status["status"] == "cancelled" and 0 < status["rows_updated"] < 1000
    result = run_backfill(
        ec_db.url, table="items", assignments={"b": "a * 2"}, name="thr", settings=fixed(100)
    )
    assert result.rows_updated == 1000 and wrong_rows(ec_conn) == 0


def test_replica_lag_probe_pauses_and_fails_closed(
    ec_db: Any, ec_conn: psycopg.Connection[Any], events: Events
) -> None:
    make_table(ec_conn, 300)
    ec_conn.execute("CREATE TABLE lag (seconds float8)")
    ec_conn.execute("INSERT INTO lag VALUES (12.5)")
    run = start(
        ec_db.url, events, fixed(50, max_replica_lag_s=2, lag_query="SELECT seconds FROM lag")
    )
    event = assert_paused_by(events, "replica_lag")
    assert event["detail"] == "replica lag 12.5s > 2s"
    ec_conn.execute("UPDATE lag SET seconds = 1.5")  # under the limit, above the exit level
    time.sleep(0.3)
    assert not events.of("batch"), "hysteresis: 1.5s is not low enough to resume"
    ec_conn.execute("DROP TABLE lag")  # an unreadable probe keeps the run paused
    deadline = time.monotonic() + 10
    reason = ""
    while "probe failed" not in reason and time.monotonic() < deadline:
        reason = backfill_status(ec_db.url, "thr")[0]["throttle_reason"] or ""
        time.sleep(0.05)
    assert 'replica lag probe failed: relation "lag" does not exist' in reason
    assert not events.of("batch")
    ec_conn.execute("CREATE TABLE lag AS SELECT 0.1::float8 AS seconds")
    assert run.result().verified and wrong_rows(ec_conn) == 0


def test_failing_health_command_pauses(
    ec_db: Any, ec_conn: psycopg.Connection[Any], events: Events, tmp_path: Path
) -> None:
    make_table(ec_conn, 300)
    flag = tmp_path / "healthy"
    run = start(ec_db.url, events, fixed(50, health_command=f"test -f {flag}"))
    event = assert_paused_by(events, "health")
    assert event["detail"] == "health command exited 1"
    flag.touch()
    assert run.result().verified and wrong_rows(ec_conn) == 0


def test_health_url_pauses_until_2xx(
    ec_db: Any, ec_conn: psycopg.Connection[Any], events: Events
) -> None:
    make_table(ec_conn, 300)
    state = {"code": 503}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(state["code"])
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/slo"
        run = start(ec_db.url, events, fixed(50, health_url=url))
        event = assert_paused_by(events, "health")
        assert "HTTP 503" in event["detail"]
        state["code"] = 200
        assert run.result().verified and wrong_rows(ec_conn) == 0
    finally:
        server.shutdown()


def test_rate_cap_limits_rows_per_second(
    ec_db: Any, ec_conn: psycopg.Connection[Any], events: Events
) -> None:
    make_table(ec_conn, 1000)
    started = time.monotonic()
    result = run_backfill(
        ec_db.url,
        table="items",
        assignments={"b": "a * 2"},
        name="rate",
        settings=fixed(100, max_rows_per_second=2000, verify=False),
        on_progress=events,
    )
    elapsed = time.monotonic() - started
    # Pacing is a state announced once, not a pause per batch (tests/progress/test_rate_cap.py).
    assert len(events.of("pacing")) == 1 and not events.of("throttle")
    # 1000 rows at <= 2000 rows/s: at least the 900 rows after the first batch are paced.
    assert elapsed >= 900 / 2000
    assert result.throttled_s == 0 and wrong_rows(ec_conn) == 0


def test_sessions_blocked_by_the_backfill_pause_it(
    ec_db: Any, ec_conn: psycopg.Connection[Any], events: Events
) -> None:
    make_table(ec_conn, 1000)
    # Row 150's value is slow to compute, so the first batch holds its row locks a while.
    ec_conn.execute(
        "CREATE FUNCTION slow_at(v int) RETURNS int LANGUAGE sql AS"
        " $$ SELECT v * 2 FROM (SELECT CASE WHEN v = 150 THEN pg_sleep(0.6) END) s $$"
    )
    stop = threading.Event()

    def app() -> None:
        with ec_db.connect() as conn:
            while not stop.is_set():
                conn.execute("UPDATE items SET note = 'app' WHERE id = 10")
                time.sleep(0.02)

    writer = threading.Thread(target=app)
    writer.start()
    try:
        result = run_backfill(
            ec_db.url,
            table="items",
            assignments={"b": "slow_at(a)"},
            name="block",
            settings=fixed(200, blocking_pause_s=0.3),
            on_progress=events,
        )
    finally:
        stop.set()
        writer.join()
    throttles = [e for e in events.of("throttle") if "blocking" in e["reasons"]]
    assert throttles and "waited on locks held by the backfill" in throttles[0]["detail"]
    first_batch = events.items.index(events.of("batch")[0])
    assert events.items.index(throttles[0]) > first_batch  # paused right after the batch
    assert ec_conn.execute("SELECT count(*) FROM items WHERE b = slow_at(a)").fetchone() == (1000,)
    assert result.throttled_s > 0


def test_active_sessions_above_baseline_pause(
    ec_db: Any, ec_conn: psycopg.Connection[Any], events: Events
) -> None:
    make_table(ec_conn, 1000)
    run = start(
        ec_db.url,
        events,
        fixed(
            50, max_rows_per_second=1000, active_sessions_factor=1.0, active_sessions_min_extra=1
        ),
    )
    events.wait_for(lambda e: e["event"] == "batch")
    sleepers = [ec_db.connect() for _ in range(3)]
    threads = [threading.Thread(target=lambda c=c: _sleep_quietly(c)) for c in sleepers]
    for t in threads:
        t.start()
    try:
        event = assert_paused_by(events, "active_sessions")
        assert "active sessions (baseline" in event["detail"]
    finally:
        ec_conn.execute(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity"
            " WHERE query LIKE 'SELECT pg_sleep(30)%'"
        )
        for t in threads:
            t.join()
        for c in sleepers:
            c.close()
    assert run.result().verified and wrong_rows(ec_conn) == 0


def _sleep_quietly(conn: psycopg.Connection[Any]) -> None:
    try:
        conn.execute("SELECT pg_sleep(30)")
    except psycopg.errors.QueryCanceled:
        return


def _flush_stats(conn: psycopg.Connection[Any]) -> None:
    if conn.info.server_version >= 150000:
        conn.execute("SELECT pg_stat_force_next_flush()")


def test_dead_tuple_ratio_pauses_until_vacuum(
    ec_db: Any, ec_conn: psycopg.Connection[Any], events: Events
) -> None:
    make_table(ec_conn, 2000)
    ec_conn.execute("ALTER TABLE items SET (autovacuum_enabled = false)")
    ec_conn.execute("UPDATE items SET note = 'x'")  # 2000 dead tuples next to 2000 live ones
    _flush_stats(ec_conn)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        row = ec_conn.execute(
            "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'items'"
        ).fetchone()
        if row and row[0] >= 1000:
            break
        time.sleep(0.1)
    run = start(ec_db.url, events, fixed(100, max_dead_tuple_ratio=0.3, dead_tuples_min_rows=0))
    event = assert_paused_by(events, "dead_tuples")
    assert event["detail"].startswith("dead-tuple ratio 0.") and "> 0.3" in event["detail"]
    # The backfill makes new dead tuples itself, so keep vacuuming until it is done.
    done = threading.Event()

    def vacuum() -> None:
        with ec_db.connect() as conn:
            while not done.is_set():
                conn.execute("VACUUM items")
                _flush_stats(conn)
                time.sleep(0.1)

    vacuumer = threading.Thread(target=vacuum)
    vacuumer.start()
    try:
        result = run.result()
    finally:
        done.set()
        vacuumer.join()
    assert result.rows_updated == 2000 and events.of("resume")


def test_autovacuum_on_the_table_pauses(
    ec_db: Any, ec_conn: psycopg.Connection[Any], events: Events
) -> None:
    """A real autovacuum worker, slowed down by cost-based delay, working on the table."""
    make_table(ec_conn, 500)
    ec_conn.execute("CREATE TABLE junk_pad (x int)")
    ec_conn.execute(
        "ALTER TABLE items SET (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor"
        " = 0, autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1,"
        " autovacuum_vacuum_insert_threshold = 0)"
    )
    ec_conn.execute(
        "INSERT INTO items SELECT g, g, 0, repeat('x', 500) FROM generate_series(10001, 30000) g"
    )
    ec_conn.execute("DELETE FROM items WHERE id > 10000")
    _flush_stats(ec_conn)
    ec_conn.execute("ALTER SYSTEM SET autovacuum_naptime = 1")
    ec_conn.execute("SELECT pg_reload_conf()")
    try:
        deadline = time.monotonic() + 60
        seen = False
        while time.monotonic() < deadline and not seen:
            seen = bool(
                ec_conn.execute(
                    "SELECT 1 FROM pg_stat_progress_vacuum p JOIN pg_stat_activity a USING (pid)"
                    " WHERE p.relid = 'items'::regclass AND a.backend_type = 'autovacuum worker'"
                ).fetchone()
            )
            time.sleep(0.1)
        assert seen, "autovacuum did not start on the table"
        run = start(ec_db.url, events, fixed(50, pause_on_autovacuum="any"))
        event = assert_paused_by(events, "autovacuum")
        assert "autovacuum is running on the table" in event["detail"]
        # Taking a conflicting lock makes autovacuum give up (it yields to users).
        ec_conn.execute("ALTER TABLE items SET (autovacuum_enabled = false)")
        result = run.result()
        assert result.verified and wrong_rows(ec_conn) == 0
    finally:
        ec_conn.execute("ALTER SYSTEM RESET autovacuum_naptime")
        ec_conn.execute("SELECT pg_reload_conf()")


def test_dead_tuple_ratio_uses_reltuples_when_statistics_were_reset(ec_db: Any) -> None:
    """A database cloned from a template (or a server after crash recovery) starts with empty
    statistics; a few updates must not read as a 100% dead table."""
    from expandcontract.backfill.throttles.base import ProbeContext
    from expandcontract.backfill.throttles.dead_tuples import DeadTuples

    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE big (id int PRIMARY KEY, v int)")
        conn.execute("INSERT INTO big SELECT g, g FROM generate_series(1, 20000) g")
        conn.execute("VACUUM ANALYZE big")
    clone = f"{ec_db.name}_clone"
    url = ec_db.server.create_database(clone, template=ec_db.name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE big SET v = v + 1 WHERE id <= 2000")
            oid = conn.execute("SELECT 'big'::regclass::oid").fetchone()[0]
            deadline = time.monotonic() + 15
            stats = None
            while time.monotonic() < deadline:  # statistics are flushed asynchronously
                stats = conn.execute(
                    "SELECT n_dead_tup, n_live_tup FROM pg_stat_user_tables WHERE relname = 'big'"
                ).fetchone()
                if stats and stats[0] >= 2000:
                    break
                time.sleep(0.2)
            assert stats is not None and stats[0] >= 2000 and stats[1] < 20000, stats
            reading = DeadTuples(max_ratio=0.5, min_rows=0).read(ProbeContext(conn, oid, "x"))
    finally:
        ec_db.server.drop_database(clone)
    assert reading.value is not None and reading.value < 0.2, reading
