"""The text exposition writer: valid for a strict parser, exact numbers, escaped labels."""

from __future__ import annotations

import math

import pytest

from expandcontract.backfill.metrics import render
from expandcontract.backfill.progress import ProgressTracker
from expandcontract.metrics.engine import EngineMetrics
from expandcontract.metrics.exposition import Exposition, format_value
from tests.observability.promtext import Invalid, parse, value


def test_numbers_keep_every_digit_and_spell_special_values_as_prometheus_does() -> None:
    assert format_value(1_234_567) == "1234567"  # `:g` wrote 1.23457e+06
    assert format_value(2.5) == "2.5" and format_value(0.1 + 0.2) == "0.30000000000000004"
    assert (format_value(math.nan), format_value(math.inf)) == ("NaN", "+Inf")


def test_label_values_are_escaped_and_read_back_exactly() -> None:
    out = Exposition()
    nasty = 'step "one"\\two\nthree'
    out.add("ec_x", "gauge", "help with \\ and\nnewline", {"description": nasty}, 1)
    series, types = parse(out.text())
    assert types == {"ec_x": "gauge"}
    assert value(series, "ec_x", description=nasty) == 1


def test_families_stay_together_and_a_series_appears_once() -> None:
    out = Exposition()
    out.add("ec_a", "gauge", "a", {"t": "1"}, 1)
    out.add("ec_b_total", "counter", "b", {}, 2)
    out.add("ec_a", "gauge", "a", {"t": "2"}, 3)  # added later, written with its family
    series, _ = parse(out.text())
    assert value(series, "ec_a", t="2") == 3
    with pytest.raises(ValueError, match="duplicate series"):
        out.add("ec_a", "gauge", "a", {"t": "2"}, 4)
    with pytest.raises(ValueError, match="declared as gauge and counter"):
        out.add("ec_a", "counter", "a", {}, 1)


def test_the_strict_parser_refuses_what_prometheus_refuses() -> None:
    for bad in (
        "ec_x 1\n",  # no TYPE
        '# TYPE ec_x gauge\nec_x{a="\\q"} 1\n',  # unknown escape
        "# TYPE ec_x gauge\nec_x 1\n# TYPE ec_y gauge\nec_y 1\nec_x 2\n",  # split family
        "# TYPE ec_x counter\nec_x 1\n",  # counter without _total
        "# TYPE ec_x gauge\nec_x one\n",
    ):
        with pytest.raises(Invalid):
            parse(bad)


def test_the_standalone_backfill_metrics_stay_valid() -> None:
    tracker = ProgressTracker("bf", "public.t", "integer", 2_000_000)
    tracker.observe({"event": "batch", "rows_scanned": 1_500_000, "rows_updated": 1_500_000,
                     "next_batch_size": 5000, "duration_ms": 120.0})  # fmt: skip
    series, _ = parse(render(tracker.snapshot()))
    assert value(series, "ec_backfill_rows_scanned_total", name="bf") == 1_500_000


def test_the_engine_registry_is_empty_before_any_migration_and_escapes_names() -> None:
    metrics = EngineMetrics(clock=lambda: 100.0)
    assert metrics.render() == ""
    metrics({"event": "migration", "name": 'odd "name"', "status": "started", "ts": 90.0})
    metrics({"event": "phase", "phase": "expand", "status": "started", "migration": 'odd "name"',
             "steps": 2, "ts": 90.0})  # fmt: skip
    series, _ = parse(metrics.render())
    assert value(series, "ec_phase_duration_seconds", migration='odd "name"') == 10.0
    assert value(series, "ec_migration_status", status="running") == 1


def test_health_checks_set_the_consecutive_failures_gauge_from_every_stage() -> None:
    metrics = EngineMetrics(clock=lambda: 100.0)
    metrics({"event": "migration", "name": "m", "status": "started", "ts": 90.0})

    def check(stage: str, healthy: bool, **count: int) -> float:
        metrics({"event": "health", "stage": stage, "healthy": healthy, "probe": "command",
                 "target": "t", "ts": 95.0, **count})  # fmt: skip
        series, _ = parse(metrics.render())
        return value(series, "ec_health_consecutive_failures", migration="m")

    assert check("before", False) == 1  # the check before a switch carries no count
    assert check("before", True) == 0
    assert check("watch", False, failures=1) == 1
    assert check("watch", False, failures=2) == 2
    assert check("watch", True, failures=0) == 0
    assert check("backfill", False, failures=3) == 3
