"""`ec backfill run|status|pause|resume|cancel`: JSON output, exit codes, metrics endpoint."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import psycopg
from click.testing import CliRunner

from expandcontract.backfill import run_backfill
from expandcontract.cli import cli
from tests.backfill.conftest import FAST, Events, fixed, make_table, wrong_rows

FAST_FLAGS = [
    "--setting",
    "check_interval_s=0.05",
    "--setting",
    "active_sessions_factor=off",
    "--setting",
    "max_dead_tuple_ratio=off",
]


def invoke(args: list[str], url: str) -> Any:
    return CliRunner().invoke(cli, args, env={"EC_DATABASE_URL": url}, catch_exceptions=False)


def test_run_json_lines_then_status(ec_db: Any, ec_conn: psycopg.Connection[Any]) -> None:
    make_table(ec_conn, 500)
    result = invoke(
        [
            "backfill",
            "run",
            "-t",
            "items",
            "--set",
            "b = a * 2",
            "--name",
            "cli",
            "--json",
            *FAST_FLAGS,
        ],
        ec_db.url,
    )
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "batch" in kinds and "phase" in kinds
    assert events[-1]["verified"] is True and events[-1]["rows_updated"] == 500
    batch = next(e for e in events if e["event"] == "batch")
    assert {"rows_scanned", "rows_updated", "duration_ms", "next_batch_size", "cursor"} <= set(
        batch
    )
    assert wrong_rows(ec_conn) == 0

    status = invoke(["backfill", "status", "cli", "--json"], ec_db.url)
    assert status.exit_code == 0
    [row] = json.loads(status.output)["backfills"]
    assert row["status"] == "done" and row["verified"] is True and row["rows_updated"] == 500
    human = invoke(["backfill", "status"], ec_db.url)
    assert "cli" in human.output and "done" in human.output


def test_human_run_prints_summary(ec_db: Any, ec_conn: psycopg.Connection[Any]) -> None:
    make_table(ec_conn, 100)
    result = invoke(
        ["backfill", "run", "-t", "items", "--set", "b = a * 2", *FAST_FLAGS], ec_db.url
    )
    assert result.exit_code == 0, result.output
    assert "100 rows updated" in result.output and "verified: true" in result.output


def test_bad_input_exit_codes(ec_db: Any, ec_conn: psycopg.Connection[Any]) -> None:
    make_table(ec_conn, 10)
    bad_col = invoke(["backfill", "run", "-t", "items", "--set", "nope = 1"], ec_db.url)
    assert bad_col.exit_code == 2
    assert "column 'nope' does not exist in public.items" in bad_col.output
    bad_set = invoke(["backfill", "run", "-t", "items", "--set", "b"], ec_db.url)
    assert bad_set.exit_code == 2 and "cannot read SET assignment" in bad_set.output
    bad_setting = invoke(
        ["backfill", "run", "-t", "items", "--set", "b = 1", "--setting", "speed=11"], ec_db.url
    )
    assert bad_setting.exit_code == 2 and "unknown backfill setting" in bad_setting.output
    unknown = invoke(["backfill", "pause", "ghost", "--json"], ec_db.url)
    assert unknown.exit_code == 2 and json.loads(unknown.output)["ok"] is False
    assert ec_conn.execute("SELECT count(*) FROM items WHERE b IS NOT NULL").fetchone() == (0,)


def test_pause_resume_cancel_commands_set_the_flag(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    make_table(ec_conn, 10)
    run_backfill(ec_db.url, table="items", assignments={"b": "a"}, name="ctl", settings=FAST)
    for verb, flag in (("pause", "pause"), ("resume", None), ("cancel", "cancel")):
        out = invoke(["backfill", verb, "ctl", "--json"], ec_db.url)
        assert out.exit_code == 0
        assert json.loads(out.output)["backfill"]["requested"] == flag


def test_metrics_endpoint_serves_prometheus_text(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    make_table(ec_conn, 300)
    scraped: list[str] = []
    events = Events()

    def on_progress(event: dict[str, Any]) -> None:
        events(event)
        if event["event"] == "batch" and not scraped:
            port = events.of("metrics")[0]["port"]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                scraped.append(r.read().decode())

    run_backfill(
        ec_db.url,
        table="items",
        assignments={"b": "a * 2"},
        name="prom",
        settings=fixed(50),
        metrics_port=0,
        on_progress=on_progress,
    )
    text = scraped[0]
    assert "# TYPE ec_backfill_rows_updated_total counter" in text
    assert 'ec_backfill_batches_total{name="prom",table="public.items"} 1' in text
    assert 'ec_backfill_rows_estimated{name="prom",table="public.items"} 300' in text


def test_once_backfill_says_so_and_never_prints_verified_true(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    ec_conn.execute("CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)")
    ec_conn.execute("INSERT INTO t (id) SELECT generate_series(1, 300)")
    args = ["backfill", "run", "-t", "t", "--set", "n = n + 1", "--name", "inc", *FAST_FLAGS]
    human = invoke(args, ec_db.url)
    assert human.exit_code == 0, human.output
    notice = " ".join(human.stderr.split())
    text = " ".join(human.stdout.split())
    assert "300 rows updated" in text
    for out in (notice, text):
        assert "mode: once (--set n = n + 1 reads n, which the backfill's own write changes" in out
        assert "each row is updated exactly once, in key order, and not verified by a sweep" in out
    assert "verified: false" in text and "verified: true" not in human.output
    assert ec_conn.execute("SELECT n, count(*) FROM t GROUP BY n").fetchall() == [(1, 300)]
    # Re-running the finished backfill reports it again, unverified, and changes nothing.
    again = invoke([*args, "--json"], ec_db.url)
    [done] = [json.loads(line) for line in again.output.splitlines()]
    assert done["event"] == "done" and done["verified"] is False and done["mode"] == "once"
    assert ec_conn.execute("SELECT n, count(*) FROM t GROUP BY n").fetchall() == [(1, 300)]


def test_json_events_carry_the_mode(ec_db: Any, ec_conn: psycopg.Connection[Any]) -> None:
    make_table(ec_conn, 100)
    out = invoke(
        ["backfill", "run", "-t", "items", "--set", "b = a * 2", "--json", *FAST_FLAGS], ec_db.url
    )
    events = [json.loads(line) for line in out.output.splitlines()]
    assert events[0]["event"] == "start" and events[0]["mode"] == "converge"
    assert "a sweep verifies every row" in events[0]["mode_reason"]
    assert events[-1]["mode"] == "converge" and events[-1]["verified"] is True
    human = invoke(["backfill", "run", "-t", "items", "--set", "b = a * 2", *FAST_FLAGS], ec_db.url)
    assert "mode: converge; verified: true, stragglers fixed: 0" in " ".join(human.output.split())


def test_a_setting_of_the_wrong_kind_is_a_usage_error(ec_db: Any) -> None:
    result = CliRunner().invoke(
        cli,
        ["backfill", "run", "-t", "t", "--set", "v = 1", "--setting", "lease_s=abc",
         "-d", ec_db.url],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "lease_s='abc'" in result.output and "a number is expected" in result.output
    assert "not supported between" not in result.output
