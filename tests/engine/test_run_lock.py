"""One ec run per database, always: when the session holding ec's run lock ends, `ec apply`
stops before its next step or batch and writes nothing more, and a second command can run."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from expandcontract.backfill import BackfillSettings
from expandcontract.config import Settings
from expandcontract.engine.api import Engine
from expandcontract.engine.backfill import table_backfill
from expandcontract.ledger.lock import RunLockLost
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import Session, engine, migration, schema_shape

WIDEN = {"alter_column": {"table": "t", "column": "v", "type": "bigint", "up": "v::bigint",
                          "down": "v::integer"}}  # fmt: skip


def _kill_lock_holder(db: EcDatabase, command: str) -> int:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE %s",
            (f"expandcontract: {command} (%",),
        ).fetchall()
    return len(row)


def _batches(db: EcDatabase) -> int:
    with db.connect() as conn:
        row = conn.execute("SELECT count(*) FROM expandcontract.backfill_batches").fetchone()
    return int(row[0]) if row else 0


def test_apply_stops_when_its_run_lock_is_lost_and_rollback_can_run(ec_db: EcDatabase) -> None:
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
        conn.execute("INSERT INTO t SELECT g, g FROM generate_series(1, 60000) g")
        before = schema_shape(conn)
    settings = Settings()
    slow = BackfillSettings(max_rows_per_second=6000, batch_start_rows=500, batch_max_rows=500)
    ec = Engine(
        ec_db.url, settings, backfill=table_backfill(ec_db.url, settings, tuning=slow), sink=None
    )
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            ec.apply(migration("wide", WIDEN))
            outcome["result"] = "finished"
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with ec_db.connect() as conn:
            has = conn.execute("SELECT to_regclass('expandcontract.backfill_batches')").fetchone()
        if has and has[0] and _batches(ec_db) > 2:
            break
        time.sleep(0.05)
    assert _kill_lock_holder(ec_db, "ec apply") == 1
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert isinstance(outcome.get("error"), RunLockLost), outcome
    stopped_at = _batches(ec_db)
    assert 0 < stopped_at < 120  # far from the 120 batches a full run takes
    # The database is free: a second command runs, and the first one wrote nothing more.
    engine(ec_db.url).rollback()
    time.sleep(0.5)
    assert _batches(ec_db) == stopped_at
    with ec_db.connect() as conn:
        assert schema_shape(conn) == before
    Session(ec_db.url, None).run("INSERT INTO t VALUES (0, 0)")


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
            _kill_lock_holder(ec_db, "ec apply")

    ec.before_step = lose_lock
    with pytest.raises(RunLockLost):
        ec.apply(migration("wide", WIDEN), on_failure="rollback")
    status = engine(ec_db.url).status()
    assert status["migration"] == "wide"  # not rolled back, nothing recorded as failed
    (record,) = status["migrations"]
    assert record["phases"]["expand"]["status"] != "failed"
