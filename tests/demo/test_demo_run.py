"""`ec demo`, measured: ONE real run (about 15 s) shared by every test of this module.

The run starts its own throwaway server (embedded PostgreSQL), makes the same change naively
and through ec under the same app traffic, prints JSON and writes the HTML report.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from expandcontract.cli import cli
from expandcontract.cli.demo import print_result
from expandcontract.demo import DemoResult
from expandcontract.demo.model import Run
from expandcontract.demo.report import read_report_data
from expandcontract.demo.scenario import REPORT_S
from tests.demo.test_report import assert_self_contained

SUMMARY_KEYS = {
    "queries",
    "errors",
    "max_stall_ms",
    "p50_ms",
    "p99_ms",
    "stalled_queries",
    "change_s",
    "run_s",
    "error_kinds",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """`ec demo --json --report FILE` once: its JSON output and the report's path. With
    --lock-timeout, which the demo's ec run takes over (its own default is 200 ms)."""
    folder = tmp_path_factory.mktemp("demo")
    report = folder / "demo.html"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)  # no stray pyproject.toml settings
        patch.delenv("EC_DATABASE_URL", raising=False)
        args = ["demo", "--json", "--report", str(report), "--server", "embedded"]
        out = CliRunner().invoke(cli, [*args, "--lock-timeout", "300ms"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    return json.loads(out.output), report


@pytest.fixture(scope="module")
def embedded(demo: tuple[dict[str, Any], Path]) -> dict[str, Any]:
    return read_report_data(demo[1].read_text(encoding="utf-8"))


def test_json_output_shape(demo: tuple[dict[str, Any], Path]) -> None:
    data, report = demo
    assert data["ok"] is True and data["server"] == "embedded"
    assert data["report"] == str(report) and data["seconds"] > 0
    assert data["rows"] > 0 and data["clients"] > 0 and data["lock_timeout_ms"] == 300
    assert "lock_timeout 300 ms" in data["runs"]["ec"]["title"]
    assert set(data["timings_s"]) == {"server", "seed", "naive", "ec"}
    assert set(data["runs"]) == {"naive", "ec"}
    for run in data["runs"].values():
        assert set(run["summary"]) == SUMMARY_KEYS
        assert run["summary"]["queries"] > 0
        assert run["timeline"] and set(run["timeline"][0]) == {"t", "queries", "max_ms", "errors"}
        assert sum(s["queries"] for s in run["timeline"]) == run["summary"]["queries"]
        assert "queries" not in run  # every query is in the report, not in the JSON
        assert all(set(m) == {"at_s", "key", "label", "kind", "detail"} for m in run["markers"])


def test_report_has_both_runs_series_and_ec_stalls_less(embedded: dict[str, Any]) -> None:
    naive, ec = (Run.from_json(embedded["runs"][name]) for name in ("naive", "ec"))
    assert naive.queries and ec.queries
    # From the series themselves, not from the printed summary.
    naive_worst = max(q.ms for q in naive.queries)
    ec_worst = max(q.ms for q in ec.queries)
    assert ec_worst < naive_worst


def test_printed_numbers_are_the_reports_measurements(
    demo: tuple[dict[str, Any], Path], embedded: dict[str, Any]
) -> None:
    data, _ = demo
    for name in ("naive", "ec"):
        rebuilt = Run.from_json(embedded["runs"][name])
        assert rebuilt.summary() == data["runs"][name]["summary"]
        assert rebuilt.markers == Run.from_json({**data["runs"][name], "queries": []}).markers


def test_the_old_app_never_fails_under_ec(embedded: dict[str, Any]) -> None:
    ec = Run.from_json(embedded["runs"]["ec"])
    failures = [q.error for q in ec.queries if q.error]
    assert failures == []  # a failure here is a bug in ec's zero-downtime claim


def test_each_run_is_marked(embedded: dict[str, Any]) -> None:
    keys = {
        name: [m["key"] for m in embedded["runs"][name]["markers"]] for name in embedded["runs"]
    }
    assert {"R", "r", "1", "2", "3", "D", "|"} <= set(keys["naive"])
    assert {"R", "r", "E", "B", "D", "S", "C", "|"} <= set(keys["ec"])
    ec_order = [k for k in keys["ec"] if k in "EBDSC|"]
    assert ec_order == ["E", "B", "D", "S", "C", "|"]
    naive_order = [k for k in keys["naive"] if k in "123|"]
    assert naive_order == ["1", "2", "3", "|"]


def test_the_naive_alter_waited_behind_the_report_and_ec_did_not(
    embedded: dict[str, Any],
) -> None:
    naive = Run.from_json(embedded["runs"]["naive"])
    held_from = next(m.at_s for m in naive.markers if m.key == "R")
    held_to = next(m.at_s for m in naive.markers if m.key == "r")
    slowest = max(naive.queries, key=lambda q: q.ms)
    # The naive stall: a query queued while the report held the table...
    assert held_from <= slowest.start_s <= held_to
    # ...freed only when the report ended: the report took its lock before its "R" marker and
    # then slept REPORT_S before committing (no allowance for load: a slow machine only makes
    # the stall longer; 1 ms covers the JSON's rounding of the query's start and latency).
    assert slowest.end_s >= held_from + REPORT_S - 0.001
    notes = " ".join(embedded["runs"]["ec"]["notes"])
    assert "demo-report-job" in notes  # ec found the blocker, named it, and retried


def test_both_runs_end_with_the_same_schema(demo: tuple[dict[str, Any], Path]) -> None:
    final = demo[0]["final_schema"]
    assert final["naive"] == final["ec"]
    assert final["ec"]["columns"]["amount"] == {"type": "bigint", "not_null": True}
    assert final["ec"]["columns"]["customer_id"]["not_null"] is True
    assert "orders_customer_id_idx" in final["ec"]["indexes"]


def test_the_report_opens_without_a_network(demo: tuple[dict[str, Any], Path]) -> None:
    assert_self_contained(demo[1].read_text(encoding="utf-8"))


def test_terminal_output_of_the_measured_run(embedded: dict[str, Any]) -> None:
    result = DemoResult.from_json(embedded)
    out = io.StringIO()
    print_result(Console(file=out, width=80), result, 12.3, Path("demo.html"))
    text = out.getvalue()
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "\x1b[" not in text
    assert any(line.startswith("slowest query (max stall)") for line in lines)
    assert "report: demo.html" in text and "done in 12.3 s" in text
    ec_max = f"{result.run('ec').summary()['max_stall_ms']:,.1f} ms"
    assert ec_max in next(line for line in lines if line.startswith("slowest query"))
