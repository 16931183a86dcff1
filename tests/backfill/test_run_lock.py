"""One ec run per database, also inside a backfill: a backfill given ec's run lock
(``BackfillSettings.run_lock``) stops before its next batch when the session holding the lock
ends, in the batches and in the verification sweep, in-process and in worker processes."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest

from expandcontract.backfill import BackfillFailed, run_backfill
from expandcontract.ledger import ExclusiveRun, Ledger
from expandcontract.ledger.lock import RunLockLost
from expandcontract.runner import SafeRunner
from tests.backfill.conftest import Background, Events, batches, fixed, make_table, wrong_rows

SLOW = (
    "CREATE FUNCTION slowish(v int) RETURNS int LANGUAGE sql IMMUTABLE AS"
    " $$ SELECT v * 2 FROM (SELECT pg_sleep(0.003)) s $$"
)


def _terminate(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        while conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            time.sleep(0.01)


@pytest.mark.parametrize(("workers", "phase"), [(1, "backfill"), (2, "backfill"), (1, "verify")])
def test_backfill_stops_before_its_next_batch_when_the_run_lock_is_lost(
    ec_db: Any, ec_conn: psycopg.Connection[Any], workers: int, phase: str
) -> None:
    make_table(ec_conn, 600)
    ec_conn.execute(SLOW)
    events = Events()
    with SafeRunner(ec_db.url, sink=None) as runner:
        Ledger(runner).ensure()  # a run stamps its generation in the ledger
    with ExclusiveRun(ec_db.url, "expandcontract", "ec apply") as lock:
        assert lock.token() is not None
        settings = fixed(20, run_lock=lock.token(), workers=workers, ranges_per_worker=1)
        run = Background(
            lambda: run_backfill(
                ec_db.url, table="items", assignments={"b": "slowish(a)"}, name="locked",
                settings=settings, on_progress=events,
            )
        )  # fmt: skip
        if phase == "verify":
            events.wait_for(lambda e: e["event"] == "phase" and e.get("phase") == "verify")
        else:
            events.wait_for(lambda e: e["event"] == "batch")
        _terminate(ec_db.url, lock.holder()[2])
        committed = len(batches(ec_conn, "locked", phase))
        # Another run takes the lock (and stamps the ledger): the backfill writes nothing more.
        with (
            ExclusiveRun(ec_db.url, "expandcontract", "ec rollback"),
            pytest.raises(BackfillFailed) as info,
        ):
            run.result(60)
    assert isinstance(info.value, RunLockLost)
    assert "lost ec's run lock (its session ended)" in info.value.message
    # Stopped before its next batch, or its batch in flight was rolled back by the fence.
    assert (
        "stopped before the next batch" in info.value.message
        or "its batch was rolled back" in info.value.message
    )
    # At most the batch in flight (one per worker) committed after the lock was gone.
    assert len(batches(ec_conn, "locked", phase)) <= committed + workers
    if phase == "backfill":
        assert wrong_rows(ec_conn, expr="a * 2") > 0  # it stopped: work is left
    # A later run (here without a lock) resumes from the committed batches.
    result = run_backfill(
        ec_db.url, table="items", assignments={"b": "slowish(a)"}, name="locked",
        settings=fixed(20, workers=workers, ranges_per_worker=1),
    )  # fmt: skip
    assert wrong_rows(ec_conn) == 0
    assert sum(b[4] for b in batches(ec_conn, "locked")) == 600 == result.rows_updated


def test_standalone_backfills_and_migration_commands_never_run_together(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    """A standalone backfill holds ec's run lock in shared mode: other backfills may join,
    a migration command may not start, and a backfill does not start during one."""
    from expandcontract.errors import LedgerBusy
    from expandcontract.ledger.lock import SharedRun, lock_key, run_is_current

    make_table(ec_conn, 50)
    with (
        ExclusiveRun(ec_db.url, "expandcontract", "ec apply"),
        pytest.raises(LedgerBusy, match="an ec migration command is working"),
    ):
        run_backfill(ec_db.url, table="items", assignments={"b": "a * 2"}, name="x",
                     settings=fixed(20))  # fmt: skip
    with (
        SharedRun(ec_db.url, "expandcontract", "ec backfill run"),
        SharedRun(ec_db.url, "expandcontract", "ec backfill run"),
    ):
        with pytest.raises(LedgerBusy, match=r"ec backfill run"):
            ExclusiveRun(ec_db.url, "expandcontract", "ec rollback").__enter__()
        # A backfill's shared hold never passes for a migration command's run.
        assert run_is_current(ec_conn, "expandcontract", *lock_key("expandcontract"), 1) in (
            None,
            False,
        )
    result = run_backfill(ec_db.url, table="items", assignments={"b": "a * 2"}, name="x",
                          settings=fixed(20))  # fmt: skip
    assert result.verified
