"""A resumed backfill's progress counts every run's rows (done/total reach the table's rows),
while its rates are this run's own: `ec backfill run` and `ec apply`, interrupted and resumed."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result

from expandcontract.backfill import run_backfill
from expandcontract.cli import cli
from expandcontract.engine.backfill import table_backfill
from expandcontract.progress import JsonLinesView
from expandcontract.pytest_plugin import EcDatabase
from tests.backfill.conftest import fixed, make_table, wrong_rows
from tests.engine.harness import engine, migration

ROWS = 3000


def interrupt_after(batches: int) -> Any:
    """An observer that stops the run like Ctrl-C after ``batches`` committed batches."""
    seen = [0]

    def observe(event: dict[str, Any]) -> None:
        data = event.get("data", event)
        if data.get("event") == "batch":
            seen[0] += 1
            if seen[0] == batches:
                raise KeyboardInterrupt

    return observe


def ec(db: EcDatabase, *args: str) -> Result:
    return CliRunner().invoke(
        cli, [*args, "-d", db.url], catch_exceptions=False, env={"EC_DATABASE_URL": None}
    )


RUN = ["backfill", "run", "-t", "items", "--set", "b = a * 2", "--name", "twice",
       "--setting", "batch_start_rows=250", "--setting", "batch_max_rows=250",
       "--setting", "check_interval_s=0.05", "--setting", "max_dead_tuple_ratio=off",
       "--setting", "active_sessions_factor=off"]  # fmt: skip


def test_a_resumed_backfill_run_ends_at_the_tables_rows(
    ec_db: EcDatabase, ec_conn: psycopg.Connection[Any]
) -> None:
    make_table(ec_conn, ROWS)
    with pytest.raises(KeyboardInterrupt):
        run_backfill(ec_db.url, table="items", assignments={"b": "a * 2"}, name="twice",
                     settings=fixed(250), on_progress=interrupt_after(5))  # fmt: skip
    assert wrong_rows(ec_conn) == ROWS - 5 * 250

    resumed = ec(ec_db, *RUN)
    assert resumed.exit_code == 0, resumed.output
    lines = resumed.stderr.splitlines()
    assert lines[0].endswith("resuming after 1,250 rows done earlier)"), lines
    assert lines[-1].startswith(
        f"backfill public.items: done, {ROWS:,} rows, 1,250 of them by earlier runs; "
        f"this run {ROWS - 1250:,} rows in "
    ), lines
    assert wrong_rows(ec_conn) == 0


def test_a_resumed_backfill_run_json_progress_counts_every_run(
    ec_db: EcDatabase, ec_conn: psycopg.Connection[Any]
) -> None:
    make_table(ec_conn, ROWS)
    with pytest.raises(KeyboardInterrupt):
        run_backfill(ec_db.url, table="items", assignments={"b": "a * 2"}, name="twice",
                     settings=fixed(250), on_progress=interrupt_after(4))  # fmt: skip
    resumed = ec(ec_db, *RUN, "--json")
    assert resumed.exit_code == 0, resumed.output
    events = [json.loads(line) for line in resumed.stdout.splitlines()]
    progress = [e for e in events if e["event"] == "progress"]
    assert progress[0]["rows_scanned"] >= 1000  # from the first snapshot on
    final = progress[-1]
    assert final["rows_scanned"] == final["rows_total_estimate"] == ROWS
    assert final["rows_this_run"] == ROWS - 1000 and final["eta_s"] == 0
    # This run's rate: its own rows over its own time, not including the earlier rows.
    assert final["rows_per_second"] == final["average_rows_per_second"]
    assert final["rows_per_second"] == pytest.approx((ROWS - 1000) / final["elapsed_s"], rel=0.01)


def test_a_resumed_apply_shows_the_backfill_from_where_it_was(
    ec_db: EcDatabase, ec_conn: psycopg.Connection[Any]
) -> None:
    ec_conn.execute("CREATE TABLE users (id bigint PRIMARY KEY, amount integer)")
    ec_conn.execute(f"INSERT INTO users SELECT g, g FROM generate_series(1, {ROWS}) g")
    ec_conn.execute("ANALYZE users")
    widen = migration("widen", {"alter_column": {
        "table": "users", "column": "amount", "type": "bigint", "up": "amount::bigint",
        "down": "amount::integer"}})  # fmt: skip
    base = engine(ec_db.url)
    backfill = table_backfill(ec_db.url, base.settings, tuning=fixed(200))
    first = dataclasses.replace(base, backfill=backfill, observer=interrupt_after(6))
    with pytest.raises(KeyboardInterrupt):
        first.apply(widen)

    lines: list[str] = []
    view = JsonLinesView(lines.append, every_s=0.0)
    dataclasses.replace(base, backfill=backfill, observer=view).apply(widen)
    events = [json.loads(line) for line in lines]
    start = next(e for e in events if e["event"] == "backfill" and e["data"]["event"] == "start")
    assert start["data"]["resumed"] is True
    assert start["data"]["done_before"]["rows_scanned"] == 6 * 200
    progress = [e for e in events if e["event"] == "progress"]
    assert progress[0]["rows_scanned"] == 7 * 200  # the first batch of this run, on top
    assert progress[-1]["rows_scanned"] == progress[-1]["rows_total_estimate"] == ROWS
    assert progress[-1]["rows_this_run"] == ROWS - 6 * 200
    assert [p["rows_scanned"] for p in progress] == sorted(p["rows_scanned"] for p in progress)
