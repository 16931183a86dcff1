"""One ec run per database, always, and a run that survives the server: when the session
holding ec's run lock ends, `ec apply` takes the lock again if no other run held it meanwhile
(a server restart mid-apply is survived without re-running anything); if another run took it,
`ec apply` stops before its next step or batch, writes nothing more, and the other one runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from expandcontract.backfill import BackfillSettings
from expandcontract.config import Settings
from expandcontract.engine.api import Engine
from expandcontract.engine.backfill import table_backfill
from expandcontract.ledger import ExclusiveRun
from expandcontract.ledger.lock import RunLockLost
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import (
    Session,
    engine,
    migration,
    schema_shape,
    terminate_lock_session,
)
from tests.runner.restartable import RestartableServer, restartable  # noqa: F401

WIDEN = {"alter_column": {"table": "t", "column": "v", "type": "bigint", "up": "v::bigint",
                          "down": "v::integer"}}  # fmt: skip
ROWS = 60_000


def _batches(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        has = conn.execute("SELECT to_regclass('expandcontract.backfill_batches')").fetchone()
        if not has or not has[0]:
            return 0
        row = conn.execute("SELECT count(*) FROM expandcontract.backfill_batches").fetchone()
    return int(row[0]) if row else 0


def _seed(url: str) -> Any:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
        conn.execute("INSERT INTO t SELECT g, g FROM generate_series(1, %s) g", (ROWS,))
        return schema_shape(conn)


def _slow_engine(url: str) -> Engine:
    """About 10 s of backfill: time to act in the middle of it."""
    settings = Settings()
    slow = BackfillSettings(max_rows_per_second=6000, batch_start_rows=500, batch_max_rows=500)
    return Engine(url, settings, backfill=table_backfill(url, settings, tuning=slow), sink=None)


def _in_background(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = fn()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _wait_for_batches(url: str, n: int) -> None:
    deadline = time.monotonic() + 30
    while _batches(url) <= n:
        assert time.monotonic() < deadline, "the backfill did not start"
        time.sleep(0.05)


def test_apply_stops_when_another_run_took_its_lock_and_that_run_works(
    ec_db: EcDatabase,
) -> None:
    before = _seed(ec_db.url)
    thread, outcome = _in_background(lambda: _slow_engine(ec_db.url).apply(migration("w", WIDEN)))
    _wait_for_batches(ec_db.url, 2)
    assert terminate_lock_session(ec_db.url, "ec apply") == 1
    # Another run takes the free lock at once (and stamps the ledger).
    with ExclusiveRun(ec_db.url, "expandcontract", "ec status-check"):
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert isinstance(outcome.get("error"), RunLockLost), outcome
    stopped_at = _batches(ec_db.url)
    assert 0 < stopped_at < ROWS // 500
    # The database is free: a second command runs, and the first one wrote nothing more.
    engine(ec_db.url).rollback()
    time.sleep(0.5)
    assert _batches(ec_db.url) == stopped_at
    with ec_db.connect() as conn:
        assert schema_shape(conn) == before
    Session(ec_db.url, None).run("INSERT INTO t VALUES (0, 0)")


def test_apply_takes_its_lock_again_when_only_its_session_ended(ec_db: EcDatabase) -> None:
    _seed(ec_db.url)
    thread, outcome = _in_background(lambda: _slow_engine(ec_db.url).apply(migration("w", WIDEN)))
    _wait_for_batches(ec_db.url, 2)
    assert terminate_lock_session(ec_db.url, "ec apply") == 1
    thread.join(timeout=120)
    assert "error" not in outcome, outcome.get("error")
    assert Session(ec_db.url, "public_w").rows("SELECT count(*) FROM t WHERE v = id") == [(ROWS,)]
    engine(ec_db.url).complete()


def test_apply_survives_a_server_restart_in_its_backfill(
    restartable: RestartableServer,  # noqa: F811
) -> None:
    url = restartable.new_database()
    _seed(url)
    thread, outcome = _in_background(lambda: _slow_engine(url).apply(migration("w", WIDEN)))
    _wait_for_batches(url, 2)
    restartable.restart(1.0)
    thread.join(timeout=180)
    assert "error" not in outcome, outcome.get("error")
    assert Session(url, "public_w").rows("SELECT count(*) FROM t WHERE v = id") == [(ROWS,)]
    engine(url).complete()
    assert Session(url, None).rows("SELECT count(*), sum(v) FROM t") == [
        (ROWS, ROWS * (ROWS + 1) // 2)
    ]


def test_a_lost_lock_never_triggers_an_automatic_rollback(ec_db: EcDatabase) -> None:
    """--on-failure rollback must not act for a run that no longer holds the database."""
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
        conn.execute("INSERT INTO t SELECT g, g FROM generate_series(1, 100) g")
    ec = engine(ec_db.url)
    lost: list[str] = []

    def lose_lock(phase: str, step: Any) -> None:
        if phase == "expand" and step.key.endswith("views") and not lost:
            lost.append(step.key)
            terminate_lock_session(ec_db.url, "ec apply")
            with ExclusiveRun(ec_db.url, "expandcontract", "ec other"):
                pass  # another run came and went

    ec.before_step = lose_lock
    with pytest.raises(RunLockLost):
        ec.apply(migration("w", WIDEN), on_failure="rollback")
    status = engine(ec_db.url).status()
    assert status["migration"] == "w"  # not rolled back, nothing recorded as failed
    (record,) = status["migrations"]
    assert record["phases"]["expand"]["status"] != "failed"


def test_nothing_is_written_once_another_run_held_the_lock_after_the_backfill(
    ec_db: EcDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock is lost and another run comes and goes right after the last batch: apply
    must not settle pending rows nor record the phase done."""
    import expandcontract.engine.backfill as engine_backfill

    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
        conn.execute("INSERT INTO t SELECT g, g FROM generate_series(1, 100) g")
    real = engine_backfill.run_backfill

    def then_lose(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        assert terminate_lock_session(ec_db.url, "ec apply") == 1
        with ExclusiveRun(ec_db.url, "expandcontract", "ec other"):
            pass  # another run came and went: the run generation moved on
        return result

    monkeypatch.setattr(engine_backfill, "run_backfill", then_lose)
    with pytest.raises(RunLockLost):
        engine(ec_db.url).apply(migration("w", WIDEN))
    with ec_db.connect() as conn:
        indexes = [
            r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 't'")
        ]
        phases = dict(conn.execute("SELECT phase, status FROM expandcontract.phases").fetchall())
    assert not any(name.startswith("_ec_pending") for name in indexes)
    assert phases.get("backfill") != "done"
