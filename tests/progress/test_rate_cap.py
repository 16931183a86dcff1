"""A rate cap paces the backfill: small batches (at most what the cap allows in one batch
target time) at even intervals, announced once as a state, never as a pause per batch; the
achieved rate stays under the cap."""

from __future__ import annotations

import io
import itertools
import statistics
import time
from typing import Any

import psycopg
import pytest
from rich.console import Console

from expandcontract.backfill import run_backfill
from expandcontract.backfill.throttles.rate import RateCap
from expandcontract.progress import PlainView
from expandcontract.pytest_plugin import EcDatabase
from tests.backfill.conftest import FAST, make_table, wrong_rows

CAP = 5000.0  # rows/s
TARGET_MS = 40.0  # batch target time: at most 200 rows a batch under the cap


def test_a_capped_backfill_runs_small_even_batches_under_the_cap(
    ec_db: EcDatabase, ec_conn: psycopg.Connection[Any]
) -> None:
    make_table(ec_conn, 3000)
    timed: list[tuple[float, dict[str, Any]]] = []  # each event and when it was seen
    out = io.StringIO()
    view = PlainView(Console(file=out, width=80), every_s=60.0)

    def observe(event: dict[str, Any]) -> None:
        timed.append((time.monotonic(), event))
        view({"event": "backfill", "ts": time.time(), "name": event.get("name"),
              "table": "items", "data": event})  # fmt: skip

    # Without the cap, these settings start at 1,000-row batches and grow to 50,000.
    settings = FAST.replace(batch_target_ms=TARGET_MS, max_rows_per_second=CAP, verify=False)
    result = run_backfill(ec_db.url, table="items", assignments={"b": "a * 2"}, name="capped",
                          settings=settings, on_progress=observe)  # fmt: skip
    assert wrong_rows(ec_conn) == 0 and result.rows_scanned == 3000

    batches = [(at, e) for at, e in timed if e["event"] == "batch"]
    limit = int(CAP * TARGET_MS / 1000)
    assert len(batches) >= 3000 // limit
    assert all(e["rows_scanned"] <= limit for _, e in batches)
    # Pacing is a state said once; it is neither a pause nor throttled time.
    assert [e["event"] for _, e in timed].count("pacing") == 1
    assert not [e for _, e in timed if e["event"] in ("throttle", "resume")]
    assert result.throttled_s == 0
    # Achieved rate, from the run's own events: the rows after the first batch over the time
    # from the first batch to the last stay within 10% of the cap.
    first_at, last_at = batches[0][0], batches[-1][0]
    paced_rows = sum(e["rows_scanned"] for _, e in batches[1:])
    assert paced_rows / (last_at - first_at) <= CAP * 1.1
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(batches)]
    assert paced_evenly(gaps, slot_s=limit / CAP), gaps
    lines = out.getvalue().splitlines()
    assert lines.count("backfill public.items: rate-capped at 5,000 rows/s") == 1
    assert not [line for line in lines if "paused" in line]


def paced_evenly(gaps: list[float], slot_s: float) -> bool:
    """Batches spread over time rather than run in bursts with sleeps between them, judged
    against the run's own median gap (a loaded machine slows every batch alike): the median
    gap is at least half a slot (bursts run most batches back to back), and few gaps (a
    hiccup of the machine: one late batch, the next one on time) are shorter than a quarter
    or longer than 4 times the median (a burst runs batches back to back, then sleeps)."""
    median = statistics.median(gaps)
    uneven = [gap for gap in gaps if not median / 4 <= gap <= 4 * median]
    return median >= slot_s / 2 and len(uneven) <= max(2, len(gaps) // 4)


def test_even_pacing_is_told_from_bursts_with_sleeps() -> None:
    slot = 0.04
    assert paced_evenly([0.041, 0.04, 0.043, 0.04, 0.045, 0.04], slot)
    assert paced_evenly([0.08, 0.09, 0.08, 0.085], slot)  # a slow machine: every batch slower
    assert paced_evenly([0.04, 0.04, 0.3, 0.001, 0.04, 0.04, 0.04], slot)  # one hiccup
    # Five batches back to back, then a sleep for the rest of 0.2 s, three times.
    bursts = [0.005, 0.005, 0.005, 0.005, 0.18] * 3
    assert not paced_evenly(bursts, slot)
    # Two at a time: half the gaps are short, each pair followed by a sleep.
    pairs = [0.005, 0.075] * 7
    assert not paced_evenly(pairs, slot)


def test_the_cap_allows_no_burst_after_an_idle_spell() -> None:
    now = [0.0]
    cap = RateCap(1000, lambda: 1, clock=lambda: now[0])
    assert cap.batch_limit(0.2) == 200
    assert cap.delay_after(200) == 0.2
    now[0] = 10.0  # a long pause: unused budget is not saved up
    waits = []
    for _ in range(5):
        waits.append(cap.delay_after(200))
        now[0] += waits[-1]
    assert waits[0] == 0.0 and waits[1:] == pytest.approx([0.2] * 4)


def test_the_workers_share_is_read_at_most_once_a_second() -> None:
    now = [0.0]
    reads = []

    def workers() -> int:
        reads.append(now[0])
        return 2

    cap = RateCap(1000, workers, clock=lambda: now[0])
    for _ in range(20):
        assert cap.batch_limit(0.2) == 100  # 500 rows/s each
        now[0] += 0.25
    assert reads == [0.0, 1.0, 2.0, 3.0, 4.0]  # 20 batches over 5 s: 5 reads
