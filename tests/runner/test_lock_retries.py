"""The runner under lock contention: bounded waits, backoff, clear errors naming the blocker."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest
from psycopg import sql

from expandcontract.errors import LockRetryExhausted, StepFailed
from expandcontract.events import StatementEvent
from expandcontract.pytest_plugin import EcDatabase
from expandcontract.runner import RetryPolicy, SafeRunner, Step

ADD_COLUMN = Step.of(
    "add column accounts.note", sql.SQL("ALTER TABLE accounts ADD COLUMN note text")
)


def _runner(url: str, events: list[StatementEvent], **policy: Any) -> SafeRunner:
    defaults: dict[str, Any] = {"lock_timeout_ms": 100, "max_attempts": 5, "max_total_ms": 5000}
    return SafeRunner(url, policy=RetryPolicy(**{**defaults, **policy}), sink=events.append)


def _columns(conn: psycopg.Connection[Any]) -> set[str]:
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attnum > 0"
    ).fetchall()
    return {r[0] for r in rows}


def test_gives_up_after_the_cap_and_names_the_blocker(
    ec_db: EcDatabase, table: str, blocker: Any
) -> None:
    holder = blocker("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE", app="nightly-report")
    events: list[StatementEvent] = []
    sleeps: list[float] = []
    runner = _runner(ec_db.url, events, max_attempts=4)
    runner._sleep = lambda s: (sleeps.append(s), time.sleep(s))  # type: ignore[method-assign]
    with runner, pytest.raises(LockRetryExhausted) as info:
        runner.run(ADD_COLUMN)
    message = str(info.value)
    assert "after 4 attempt(s)" in message
    assert f"pid {holder.pid}" in message and "nightly-report" in message
    assert f"pg_cancel_backend({holder.pid})" in (info.value.hint or "")
    assert [e.outcome for e in events] == ["retry", "retry", "retry", "failed"]
    assert all(e.sqlstate == "55P03" for e in events)
    assert events[-1].blockers and events[-1].blockers[0].pid == holder.pid
    assert events[-1].blockers[0].wait_mode == "AccessExclusiveLock"
    assert len(sleeps) == 3 and all(0 < s <= 5 for s in sleeps)
    holder.release()
    with ec_db.connect() as conn:
        assert "note" not in _columns(conn), "nothing may be half-applied"


def test_total_time_cap_stops_retrying(ec_db: EcDatabase, table: str, blocker: Any) -> None:
    blocker("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
    events: list[StatementEvent] = []
    runner = _runner(ec_db.url, events, max_attempts=1000, max_total_ms=800)
    started = time.monotonic()
    with runner, pytest.raises(LockRetryExhausted):
        runner.run(ADD_COLUMN)
    # Bounded by the time cap, not by the (huge) attempt cap.
    assert len(events) < 1000
    assert time.monotonic() - started < 800 / 1000 + 5 * 0.1 + 2


def test_succeeds_once_the_blocker_goes(ec_db: EcDatabase, table: str, blocker: Any) -> None:
    holder = blocker("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
    holder.release_after(0.6)
    events: list[StatementEvent] = []
    with _runner(ec_db.url, events, max_attempts=50, max_total_ms=20_000) as runner:
        result = runner.run(ADD_COLUMN)
    assert result.attempts > 1
    assert events[-1].outcome == "ok" and events[-1].attempts == result.attempts
    assert {e.outcome for e in events[:-1]} == {"retry"}
    assert result.lock_wait_ms >= 100
    with ec_db.connect() as conn:
        assert "note" in _columns(conn)


def _app_worst_wait_ms(url: str, ec_lock_timeout_ms: int, hold_s: float) -> tuple[float, int]:
    """A report transaction holds ACCESS SHARE for ``hold_s``; ec asks for ACCESS EXCLUSIVE;
    the app keeps reading. Returns the app's worst query time and ec's attempts."""
    report = psycopg.connect(url, application_name="report")
    report.execute("SELECT count(*) FROM accounts")
    threading.Timer(hold_s, report.commit).start()
    worst = [0.0]
    stop = threading.Event()

    def app() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            while not stop.is_set():
                t = time.monotonic()
                conn.execute("SELECT balance FROM accounts WHERE id = 7").fetchone()
                worst[0] = max(worst[0], (time.monotonic() - t) * 1000)
                time.sleep(0.005)

    thread = threading.Thread(target=app)
    thread.start()
    time.sleep(0.05)
    policy = RetryPolicy(lock_timeout_ms=ec_lock_timeout_ms, max_attempts=100, max_total_ms=30_000)
    try:
        with SafeRunner(url, policy=policy, sink=None) as runner:
            result = runner.run(ADD_COLUMN)
    finally:
        stop.set()
        thread.join()
        report.close()
    return worst[0], result.attempts


def test_application_is_never_queued_behind_ec_longer_than_lock_timeout(
    ec_db: EcDatabase, table: str
) -> None:
    worst_ms, attempts = _app_worst_wait_ms(ec_db.url, ec_lock_timeout_ms=150, hold_s=1.5)
    assert attempts > 1, "ec must have backed off and retried while the report ran"
    # The app waits at most one lock_timeout (plus scheduling noise), never the report's 1.5 s.
    assert worst_ms < 150 + 350, f"app query waited {worst_ms:.0f} ms"


def test_control_without_a_short_lock_timeout_the_app_stalls(ec_db: EcDatabase, table: str) -> None:
    """Same scenario, lock_timeout longer than the report: proves the test above can fail."""
    worst_ms, attempts = _app_worst_wait_ms(ec_db.url, ec_lock_timeout_ms=10_000, hold_s=1.0)
    assert attempts == 1
    assert worst_ms > 700, f"app query waited only {worst_ms:.0f} ms"


def test_non_retryable_error_fails_at_once_with_the_statement_rolled_back(
    ec_db: EcDatabase, table: str
) -> None:
    events: list[StatementEvent] = []
    step = Step.of(
        "two statements, the second one wrong",
        sql.SQL("ALTER TABLE accounts ADD COLUMN note text"),
        sql.SQL("ALTER TABLE accounts ADD COLUMN note text"),
    )
    with _runner(ec_db.url, events) as runner, pytest.raises(StepFailed) as info:
        runner.run(step)
    assert "42701" in str(info.value) and "already exists" in str(info.value)
    assert [e.outcome for e in events] == ["failed"] and events[0].attempts == 1
    with ec_db.connect() as conn:
        assert "note" not in _columns(conn), "the step is one transaction"


def test_statement_timeout_is_enforced_and_explained(ec_db: EcDatabase, table: str) -> None:
    step = Step.of("slow", sql.SQL("SELECT pg_sleep(2)"), statement_timeout_ms=100)
    with _runner(ec_db.url, []) as runner, pytest.raises(StepFailed) as info:
        runner.run(step)
    assert "57014" in str(info.value)
    assert "statement_timeout" in (info.value.hint or "")


def test_skip_if_and_record_share_the_step_transaction(ec_db: EcDatabase, table: str) -> None:
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE done_marks (key text PRIMARY KEY)")

    def done(conn: psycopg.Connection[Any]) -> bool:
        return conn.execute("SELECT 1 FROM done_marks WHERE key = 'k'").fetchone() is not None

    def record(conn: psycopg.Connection[Any]) -> None:
        conn.execute("INSERT INTO done_marks VALUES ('k')")

    with _runner(ec_db.url, []) as runner:
        first = runner.run(ADD_COLUMN, skip_if=done, record=record)
        second = runner.run(ADD_COLUMN, skip_if=done, record=record)
    assert not first.skipped and second.skipped
    # A failing step must not leave its record behind.
    bad = Step.of("bad", sql.SQL("SELECT 1/0"))
    with _runner(ec_db.url, []) as runner, pytest.raises(StepFailed):
        runner.run(bad, record=lambda c: c.execute("INSERT INTO done_marks VALUES ('bad')"))
    with ec_db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM done_marks").fetchone() == (1,)


def test_every_statement_becomes_a_structured_event(ec_db: EcDatabase, table: str) -> None:
    events: list[StatementEvent] = []
    with _runner(ec_db.url, events) as runner:
        runner.run(ADD_COLUMN)
    data = events[0].as_dict()
    assert data["event"] == "statement"
    assert data["statement"] == "ALTER TABLE accounts ADD COLUMN note text"
    assert data["outcome"] == "ok" and data["attempts"] == 1 and data["transactional"] is True
    assert data["duration_ms"] >= 0 and data["lock_wait_ms"] == 0


def test_events_mask_passwords(ec_db: EcDatabase, table: str) -> None:
    events: list[StatementEvent] = []
    step = Step.of(
        "comment with a dsn",
        sql.SQL("COMMENT ON TABLE accounts IS {}").format(
            sql.Literal("copied from postgresql://etl:Sup3rSecret@old-db/app")
        ),
    )
    with _runner(ec_db.url, events) as runner:
        runner.run(step)
    assert "Sup3rSecret" not in str(events[0].as_dict())
