"""kill -9 of the backfill process at random batches, several times: the resumed run
continues exactly at the checkpoint; every row right, every batch accounted once, every row
written exactly once (also for a non-idempotent, "once" backfill)."""

from __future__ import annotations

import json
import os
import random
import signal
from typing import Any

import psycopg
import pytest

from expandcontract.backfill import backfill_status
from tests.backfill.conftest import assert_chained, batches, ec_cli, make_table, wrong_rows
from tests.backfill.counted import counted_table, histogram, snapshot

ARGS = [
    "backfill",
    "run",
    "--table",
    "items",
    "--set",
    "b = a * 2",
    "--name",
    "crash",
    "--json",
    "--setting",
    "batch_start_rows=40",
    "--setting",
    "batch_min_rows=40",
    "--setting",
    "batch_max_rows=40",
    "--setting",
    "max_dead_tuple_ratio=off",
    "--setting",
    "active_sessions_factor=off",
    "--setting",
    "lease_s=30",
]


def run_until_batch(url: str, stop_after: int) -> int:
    """Start `ec backfill run --json`, SIGKILL it after ``stop_after`` batch events."""
    proc = ec_cli(ARGS, url)
    assert proc.stdout is not None
    seen = 0
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == "batch":
            seen += 1
            if seen >= stop_after:
                os.kill(proc.pid, signal.SIGKILL)
                break
    proc.wait()
    return seen


def test_sigkill_at_random_batches_then_resume(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    make_table(ec_conn, 1000)  # 25 batches of 40
    rng = random.Random(1234)
    for _ in range(3):
        run_until_batch(ec_db.url, rng.randint(1, 5))
        done = batches(ec_conn, "crash")
        # What is committed is exactly what the batch records say, no more, no less.
        updated = ec_conn.execute("SELECT count(*) FROM items WHERE b = a * 2").fetchone()
        assert updated == (sum(b[4] for b in done),)
        [status] = backfill_status(ec_db.url, "crash")
        assert status["rows_updated"] == sum(b[4] for b in done)
        assert status["batches"] == len(done)
    proc = ec_cli(ARGS, ec_db.url)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    final = [json.loads(line) for line in out.splitlines()][-1]
    assert final["event"] == "done" and final["verified"] is True
    assert final["stragglers"] == 0  # nothing was skipped by a crash
    assert wrong_rows(ec_conn) == 0
    assert final["rows_updated"] == 1000 and final["rows_scanned"] == 1000
    all_batches = batches(ec_conn, "crash")
    assert sum(b[3] for b in all_batches) == 1000 and sum(b[4] for b in all_batches) == 1000
    assert_chained(ec_conn, "crash")


def counted_args(assignment: str, name: str) -> list[str]:
    return [
        "backfill", "run", "--table", "t", "--set", assignment, "--name", name, "--json",
        *ARGS[ARGS.index("--json") + 1 :],
    ]  # fmt: skip


def kill_after_batches(url: str, args: list[str], stop_after: int) -> None:
    proc = ec_cli(args, url)
    assert proc.stdout is not None
    seen = 0
    for line in proc.stdout:
        if json.loads(line)["event"] == "batch":
            seen += 1
            if seen >= stop_after:
                os.kill(proc.pid, signal.SIGKILL)
                break
    proc.wait()


def finish(url: str, args: list[str]) -> dict[str, Any]:
    proc = ec_cli(args, url)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    final: dict[str, Any] = json.loads(out.splitlines()[-1])
    assert final["event"] == "done"
    return final


@pytest.mark.parametrize(
    ("assignment", "column", "mode"), [("n = n + 1", "n", "once"), ("n2 = n + 1", "n2", "converge")]
)
def test_sigkill_and_resume_change_every_row_exactly_once(
    ec_db: Any, ec_conn: psycopg.Connection[Any], assignment: str, column: str, mode: str
) -> None:
    counted_table(ec_conn, 1000)  # 25 batches of 40
    args = counted_args(assignment, "once")
    rng = random.Random(99)
    for _ in range(3):
        kill_after_batches(ec_db.url, args, rng.randint(1, 6))
        # Exactly the committed batches' rows were written, each once.
        done = sum(b[4] for b in batches(ec_conn, "once"))
        assert histogram(ec_conn, "writes") == {0: 1000 - done, 1: done}
    final = finish(ec_db.url, args)
    assert histogram(ec_conn, column) == {1: 1000}
    assert histogram(ec_conn, "writes") == {1: 1000}
    assert final["mode"] == mode and final["rows_updated"] == 1000
    assert final["verified"] is (mode == "converge")
    assert_chained(ec_conn, "once")
    # Running a finished backfill again touches nothing and claims nothing new.
    before = snapshot(ec_conn)
    again = finish(ec_db.url, args)
    assert snapshot(ec_conn) == before
    assert again["verified"] is (mode == "converge") and again["mode"] == mode
    [status] = backfill_status(ec_db.url, "once")
    assert status["status"] == "done" and status["verified"] is (mode == "converge")
