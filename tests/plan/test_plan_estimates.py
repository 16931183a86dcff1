"""`ec plan` informs: rows from statistics or a sample, what each step does to its table,
durations from a measured sample, the SQL in the text output."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from expandcontract.config import Settings
from expandcontract.engine.api import Engine
from expandcontract.engine.estimates import estimate_plan, sample_table
from expandcontract.engine.migration import load
from expandcontract.pytest_plugin import EcDatabase
from tests.plan.conftest import INDEX, ROWS


def _plan_json(ec_plan: Callable[..., Any], name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ec_plan("plan", name, "--json").output)
    return data


def test_never_analysed_table_is_sampled_then_statistics_are_used(
    ec_plan: Callable[..., Any], unanalysed: EcDatabase
) -> None:
    job = _plan_json(ec_plan, "type.yaml")["backfills"][0]
    assert job["rows_source"] == "sampled"
    assert ROWS / 2 <= job["estimated_rows"] <= ROWS * 2
    with unanalysed.connect() as conn:
        conn.execute("ANALYZE users")
    job = _plan_json(ec_plan, "type.yaml")["backfills"][0]
    assert job["rows_source"] == "statistics"
    assert ROWS * 0.9 <= job["estimated_rows"] <= ROWS * 1.1
    # Statistics are scaled to the table's current size, as the planner does.
    with unanalysed.connect() as conn:
        conn.execute(
            "INSERT INTO users SELECT g, 'x', 'y', g FROM generate_series(%s::int, %s::int) g",
            (ROWS + 1, ROWS * 2),
        )
    job = _plan_json(ec_plan, "type.yaml")["backfills"][0]
    assert job["rows_source"] == "statistics"
    assert ROWS * 1.5 <= job["estimated_rows"] <= ROWS * 2.5


def test_json_says_what_each_step_does_and_how_long(ec_plan: Callable[..., Any]) -> None:
    data = _plan_json(ec_plan, "type.yaml")
    assert data["estimates"]["sample_budget_ms_per_table"] > 0
    for steps in data["phases"].values():
        for step in steps:
            assert {"effect", "rewrites", "scans", "table", "estimated_duration"} <= set(step)
            assert {"low_s", "high_s", "text", "basis"} <= set(step["estimated_duration"])
    job = data["backfills"][0]
    assert job["rewrites"] is True
    assert job["estimated_duration"]["high_s"] >= job["estimated_duration"]["low_s"] > 0
    assert "batched updates" in job["estimated_duration"]["basis"]
    # The twin column a type change adds is a catalog change, not a rewrite of the table.
    twin = next(s for s in data["phases"]["expand"] if "twin column" in s["description"])
    assert twin["effect"] == "catalog-only" and not twin["rewrites"] and not twin["scans"]
    assert twin["estimated_duration"]["text"] == "instant"


def test_rename_is_catalog_only_and_index_build_scans(ec_plan: Callable[..., Any]) -> None:
    rename = _plan_json(ec_plan, "rename.yaml")
    assert rename["backfills"] == []
    steps = [s for phase in rename["phases"].values() for s in phase]
    assert steps and not any(s["scans"] or s["rewrites"] for s in steps)
    index = _plan_json(ec_plan, "index.yaml")
    build = next(s for s in index["phases"]["expand"] if "CREATE INDEX" in s["statements"][0])
    assert build["effect"] == "index build" and build["scans"] and not build["rewrites"]
    assert build["table"] == "users"
    assert build["estimated_duration"]["high_s"] > 0
    assert "pages at the sampled read rate" in build["estimated_duration"]["basis"]


def test_text_output_shows_the_sql_and_fits_80_columns(ec_plan: Callable[..., Any]) -> None:
    text = ec_plan("plan", "type.yaml").output
    assert 'ALTER TABLE "public"."users" ADD COLUMN "_ec_new_amount" bigint;' in text
    assert "CREATE INDEX CONCURRENTLY" in text  # the pending-rows index, at contract
    assert "catalog-only" in text and "est. instant" in text
    assert "(sampled)" in text and "every row rewritten in batched" in text
    assert max(len(line) for line in text.splitlines()) <= 80
    index_text = ec_plan("plan", "index.yaml").output
    assert "index build of users" in index_text
    sql = ec_plan("plan", "index.yaml", "--format", "sql").output
    assert "BEGIN;" in sql and "--   index build of users, estimated" in sql
    bare = ec_plan("plan", "index.yaml", "--no-estimate", "--json").output
    assert "estimates" not in json.loads(bare)


def test_stored_plan_of_the_active_migration_is_estimated(ec_plan: Callable[..., Any]) -> None:
    ec_plan("apply", "type.yaml", "--phase", "expand")
    data = _plan_json(ec_plan, "type.yaml")
    assert "already active" in data["warnings"][0]
    assert data["backfills"][0]["rows_source"] in ("sampled", "statistics")
    assert "catalog-only" in ec_plan("plan", "type.yaml").output


def test_a_locked_table_gives_no_sample_instead_of_a_wait(
    unanalysed: EcDatabase, tmp_path: Any
) -> None:
    (tmp_path / "type.yaml").write_text(
        "operations:\n  - create_index: {name: users_nick_idx, table: users, columns: [nickname]}\n"
    )
    plan = Engine(unanalysed.url, Settings()).plan(load(str(tmp_path / "type.yaml")))
    results: list[Any] = []
    with psycopg.connect(unanalysed.url) as locker:
        locker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        worker = threading.Thread(
            target=lambda: results.append(estimate_plan(unanalysed.url, plan))
        )
        worker.start()
        worker.join(timeout=60)
        assert not worker.is_alive(), "the estimate waited for the lock"
        locker.rollback()
    sample = results[0].tables["users"]
    assert sample.problem is not None and "locked by another session" in sample.problem
    build = results[0].steps["expand"][0]
    assert build.effect == "index build" and build.duration.text() == "unknown"
    assert "locked" in build.duration.basis


def test_the_sample_stops_at_its_statement_budget(unanalysed: EcDatabase) -> None:
    # A lock wait longer than the budget is cut by statement_timeout, not by lock_timeout.
    with psycopg.connect(unanalysed.url) as locker, unanalysed.connect() as conn:
        locker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        sample = sample_table(conn, "public", "users", budget_ms=200, lock_wait_ms=5_000)
        locker.rollback()
    assert sample.problem == "sample exceeded its 200 ms budget"
    assert sample.rows.rows is None and sample.rows.source == "unknown"


def test_without_select_privilege_the_plan_says_not_sampled(
    unanalysed: EcDatabase, tmp_path: Any
) -> None:
    (tmp_path / "index.yaml").write_text(INDEX)
    plan = Engine(unanalysed.url, Settings()).plan(load(str(tmp_path / "index.yaml")))
    with unanalysed.connect() as conn:
        conn.execute("CREATE ROLE ec_plan_nobody LOGIN")
    try:
        url = make_conninfo(unanalysed.url, user="ec_plan_nobody")
        estimates = estimate_plan(url, plan)
    finally:
        with unanalysed.connect() as conn:
            conn.execute("DROP ROLE ec_plan_nobody")
    assert estimates.tables["users"].problem == "no SELECT privilege on the table: not sampled"
    assert estimates.steps["expand"][0].duration.text() == "unknown"


def test_a_partitioned_table_is_counted_through_its_partitions(ec_db: EcDatabase) -> None:
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE events (id int, day int) PARTITION BY RANGE (day)")
        conn.execute("CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (10)")
        conn.execute("CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM (10) TO (20)")
        conn.execute("INSERT INTO events SELECT g, g % 20 FROM generate_series(1, 3000) g")
        sample = sample_table(conn, "public", "events")
    assert sample.rows.rows == 3000 and sample.rows.source == "counted"
    assert sample.pages is not None and sample.pages > 0
