"""The numbers the demo derives from its measurements."""

from __future__ import annotations

from expandcontract.demo.model import (
    Query,
    Run,
    failures_per_column,
    measured_query,
    percentile,
    worst_in_flight,
)
from tests.demo.runs import ec_run, naive_run


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 99) == 0.0


def test_a_stall_covers_every_column_it_spans() -> None:
    queries = [Query(0.05, 1.0), Query(1.0, 1500.0), Query(3.2, 2.0)]
    worst = worst_in_flight(queries, 4.0, 8)  # columns of 0.5 s
    assert worst[0] == 1.0
    assert worst[1] is None  # no query ran in [0.5, 1.0)
    assert worst[2:6] == [1500.0] * 4  # 1.0 .. 2.5 s, the stall's whole span
    assert worst[6] == 2.0 and worst[7] is None


def test_failures_are_counted_where_they_came_back() -> None:
    queries = [Query(0.1, 1.0), Query(1.0, 1500.0, "boom"), Query(3.9, 0.5, "boom")]
    assert failures_per_column(queries, 4.0, 4) == [0, 0, 1, 1]
    assert failures_per_column(queries, 4.0, 0) == []
    assert worst_in_flight(queries, 0.0, 3) == [None, None, None]


def test_summary_counts_what_was_recorded() -> None:
    summary = naive_run().summary()
    assert summary["max_stall_ms"] == 1500.0
    assert summary["errors"] == 2
    assert summary["stalled_queries"] == 1
    assert summary["queries"] == len(naive_run().queries)
    assert summary["error_kinds"] == {
        "FeatureNotSupported: cached plan must not change result type": 2
    }
    assert ec_run().summary()["errors"] == 0


def test_empty_run_summarises_to_zeros() -> None:
    summary = Run("ec", "t", [], [], 0.0, 0.0).summary()
    assert summary["queries"] == 0 and summary["max_stall_ms"] == 0.0
    assert summary["p99_ms"] == 0.0
    assert Run("ec", "t", [], [], 0.0, 0.0).timeline() == [
        {"t": 0.0, "queries": 0, "max_ms": 0.0, "errors": 0}
    ]


def test_timeline_slices_the_run() -> None:
    timeline = naive_run().timeline(step_s=0.5)
    assert len(timeline) == 8
    assert timeline[2]["max_ms"] == 1500.0  # the stall started in [1.0, 1.5)
    assert timeline[5]["errors"] == 2
    assert sum(s["queries"] for s in timeline) == len(naive_run().queries)


def test_json_round_trip_keeps_every_query_and_marker() -> None:
    run = naive_run()
    back = Run.from_json(run.as_json(queries=True))
    assert back.summary() == run.summary()
    assert back.markers == run.markers
    assert [q.error for q in back.queries] == [q.error for q in run.queries]
    assert "queries" not in run.as_json()


def test_a_run_read_back_from_its_json_gives_the_same_summary_at_any_rounding_edge() -> None:
    # 2.6551 s prints as 2.66, but stored as 2.655 it would read back as 2.65; latencies are
    # kept at the report's resolution from the start, so they read back exactly.
    queries = [measured_query(0.00049, 1478.449, None), measured_query(1.23456, 0.3349, "E: x")]
    run = Run("naive", "t", queries, [], duration_s=2.6551, change_s=1.5151)
    again = Run.from_json(run.as_json(queries=True))
    assert again.summary() == run.summary()
    assert run.summary()["run_s"] == 2.66 and run.summary()["change_s"] == 1.52
    assert again.queries == run.queries
