"""A backfill seen only by its result (finished by an earlier run, e.g. `ec apply` re-run after
the pending rows were fixed) did nothing in this run: rate 0, every row an earlier run's."""

from __future__ import annotations

from expandcontract.backfill.progress import ProgressTracker
from expandcontract.metrics.engine import EngineMetrics
from tests.observability.promtext import parse, value

RESULT = {"event": "done", "status": "done", "rows_scanned": 1_500_000, "rows_updated": 1_500_000,
          "batches": 300, "stragglers": 0, "verified": True}  # fmt: skip


def test_a_tracker_that_sees_only_the_result_reports_no_rate_for_this_run() -> None:
    ticks = iter([100.0, 100.00001, 100.00001])
    tracker = ProgressTracker("m-1:public.users", "public.users", "", 0, clock=lambda: next(ticks))
    tracker.observe(RESULT)
    snap = tracker.snapshot()
    assert snap["rows_scanned"] == 1_500_000 and snap["rows_this_run"] == 0
    assert snap["rows_per_second"] == 0 and snap["average_rows_per_second"] == 0
    assert tracker.rows_before == 1_500_000


def test_a_run_with_batches_still_rates_its_own_rows() -> None:
    ticks = iter([0.0, 2.0, 4.0, 4.0])
    tracker = ProgressTracker("b", "public.t", "", 0, clock=lambda: next(ticks))
    tracker.observe({"event": "batch", "rows_scanned": 1000, "rows_updated": 1000})
    tracker.observe({**RESULT, "rows_scanned": 1000, "rows_updated": 1000, "batches": 1})
    assert tracker.snapshot()["average_rows_per_second"] == 250  # 1,000 rows in 4 s


def test_the_engine_metrics_show_rate_0_for_an_already_finished_backfill() -> None:
    metrics = EngineMetrics(clock=lambda: 100.0)
    metrics({"event": "migration", "name": "m", "status": "started", "ts": 90.0})
    metrics({"event": "backfill", "ts": 95.0, "name": "m-1:public.users", "table": "users",
             "data": {**RESULT, "table": "public.users"}})  # fmt: skip
    series, _ = parse(metrics.render())
    labels = {"migration": "m", "name": "m-1:public.users"}
    assert value(series, "ec_backfill_rows_scanned_total", **labels) == 1_500_000
    assert value(series, "ec_backfill_rows_per_second", **labels) == 0
