"""Parallel worker processes split the key space into leased ranges: every key is covered
exactly once, also when a worker is SIGKILLed while holding a lease."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import psycopg
import pytest

from expandcontract.backfill import run_backfill
from expandcontract.backfill.errors import LeaseLost
from expandcontract.backfill.statements import Cursor
from expandcontract.backfill.store import BatchRecord, Store
from tests.backfill.conftest import Background, Events, assert_chained, batches, fixed, make_table


def coverage(conn: psycopg.Connection[Any], name: str) -> tuple[int, int]:
    rows = batches(conn, name)
    return sum(b[3] for b in rows), sum(b[4] for b in rows)


def test_three_workers_cover_every_range_once(ec_db: Any, ec_conn: psycopg.Connection[Any]) -> None:
    make_table(ec_conn, 3000)
    events = Events()
    result = run_backfill(
        ec_db.url,
        table="items",
        assignments={"b": "a * 2"},
        name="par",
        settings=fixed(50, workers=3, ranges_per_worker=3),
        on_progress=events,
    )
    [spawn] = events.of("workers")
    assert len(spawn["pids"]) == 3
    owners = {
        r[0]
        for r in ec_conn.execute(
            "SELECT DISTINCT worker FROM expandcontract.backfill_batches WHERE backfill = 'par'"
            " AND phase = 'backfill'"
        ).fetchall()
    }
    assert len(owners) >= 2  # the work really was shared
    ranges = ec_conn.execute(
        "SELECT count(*), sum(claims) FROM expandcontract.backfill_ranges"
        " WHERE backfill = 'par' AND phase = 'backfill'"
    ).fetchone()
    assert ranges == (9, 9)  # 9 ranges, each claimed once
    assert coverage(ec_conn, "par") == (3000, 3000)
    assert result.verified and result.stragglers == 0
    assert ec_conn.execute("SELECT count(*) FROM items WHERE b = a * 2").fetchone() == (3000,)
    assert_chained(ec_conn, "par")


def test_worker_killed_holding_a_lease_is_taken_over(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    make_table(ec_conn, 3000)
    events = Events()
    run = Background(
        lambda: run_backfill(
            ec_db.url,
            table="items",
            assignments={"b": "a * 2"},
            name="kill",
            settings=fixed(20, workers=3, ranges_per_worker=2, max_rows_per_second=3000),
            on_progress=events,
        )
    )
    events.wait_for(lambda e: e["event"] == "batch" and e.get("worker"))
    pids = set(events.of("workers")[0]["pids"])
    victim_owner = None
    deadline = time.monotonic() + 20
    while victim_owner is None and time.monotonic() < deadline:
        for (owner,) in ec_conn.execute(
            "SELECT owner FROM expandcontract.backfill_ranges WHERE backfill = 'kill'"
            " AND status = 'running'"
        ).fetchall():
            if int(owner.rsplit(":", 1)[1]) in pids:
                victim_owner = owner
                break
    assert victim_owner is not None
    os.kill(int(victim_owner.rsplit(":", 1)[1]), signal.SIGKILL)
    result = run.result(timeout=120)
    assert result.verified and result.stragglers == 0
    taken = ec_conn.execute(
        "SELECT count(*) FROM expandcontract.backfill_ranges WHERE backfill = 'kill' AND claims > 1"
    ).fetchone()
    assert taken is not None and taken[0] >= 1  # the dead worker's range was claimed again
    assert coverage(ec_conn, "kill") == (3000, 3000)  # and no key was done twice
    assert ec_conn.execute("SELECT count(*) FROM items WHERE b = a * 2").fetchone() == (3000,)
    assert_chained(ec_conn, "kill")


def test_expired_lease_is_reclaimed_and_the_old_holder_fenced(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    make_table(ec_conn, 10)
    run_backfill(
        ec_db.url,
        table="items",
        assignments={"b": "a"},
        name="lease",
        settings=fixed(5, verify=False),
    )
    ec_conn.execute("UPDATE expandcontract.backfill_ranges SET status = 'pending', cursor = NULL")
    slow = Store("expandcontract", "lease", "otherhost:1")
    fast = Store("expandcontract", "lease", "otherhost:2")
    first = slow.claim(ec_conn, "backfill", lease_s=0.3)
    assert first is not None
    assert fast.claim(ec_conn, "backfill", lease_s=5) is None  # leased: not claimable
    time.sleep(0.5)
    second = fast.claim(ec_conn, "backfill", lease_s=5)
    assert second is not None and second.range_no == first.range_no
    assert second.token != first.token
    record = BatchRecord(None, ["5"], 5, 5, 0, 1.0, 1, 0.0)
    with pytest.raises(LeaseLost), ec_conn.transaction():
        slow.commit_batch(ec_conn, first, record, lease_s=5)
    with ec_conn.transaction():
        fast.commit_batch(ec_conn, second, record, lease_s=5)
    cursor: Cursor = fast.reload(ec_conn, second)
    assert cursor == ["5"]
