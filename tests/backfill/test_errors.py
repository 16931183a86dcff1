"""Bad input fails before the first batch with nothing updated; a failing row is named and
the work before it is kept; timeouts split batches; a killed backend is retried."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from expandcontract.backfill import (
    BackfillInputError,
    BackfillRowError,
    backfill_status,
    run_backfill,
)
from tests.backfill.conftest import FAST, assert_chained, fixed, make_table, wrong_rows


def xmin_snapshot(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT id, xmin::text, b FROM items ORDER BY id").fetchall()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"table": "nope"}, "table public.nope does not exist"),
        ({"schema": "other"}, "table other.items does not exist"),
        ({"assignments": {"bb": "a"}}, "column 'bb' does not exist in public.items"),
        ({"assignments": {"b": "a +* 2"}}, "--set b = 'a +* 2' is not one SQL expression"),
        ({"assignments": {"b": "nosuchcol + 1"}}, 'column "nosuchcol" does not exist'),
        ({"assignments": {"b": "note || 'x'"}}, "--set b = note || 'x' is not valid"),
        ({"assignments": {"b": "now()"}}, "--set b = now() is not valid"),
        ({"assignments": {"id": "id + 1"}}, "must not change its key column(s) id"),
        ({"where": "b IS"}, "--where 'b IS' is not one SQL expression"),
        ({"where": "a + 1"}, "--where a + 1 is not valid"),
        ({"keys": ["a"]}, "key columns (a) of"),
    ],
)
def test_bad_input_is_rejected_before_any_update(
    ec_db: Any, ec_conn: psycopg.Connection[Any], kwargs: dict[str, Any], message: str
) -> None:
    make_table(ec_conn, 50)
    before = xmin_snapshot(ec_conn)
    args: dict[str, Any] = {"table": "items", "assignments": {"b": "a * 2"}, **kwargs}
    with pytest.raises(BackfillInputError) as info:
        run_backfill(ec_db.url, settings=FAST, **args)
    assert message in info.value.message
    assert info.value.exit_code == 2
    assert xmin_snapshot(ec_conn) == before  # not a single row version changed


def test_same_name_with_a_different_spec_is_refused(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    make_table(ec_conn, 30)
    run_backfill(ec_db.url, table="items", assignments={"b": "a"}, name="job", settings=FAST)
    before = xmin_snapshot(ec_conn)
    with pytest.raises(BackfillInputError, match="already exists with a different spec"):
        run_backfill(
            ec_db.url, table="items", assignments={"b": "a + 1"}, name="job", settings=FAST
        )
    assert xmin_snapshot(ec_conn) == before


def test_failing_row_is_named_progress_kept_and_resume_finishes(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    ec_conn.execute("CREATE TABLE t (id int PRIMARY KEY, raw text, n int)")
    ec_conn.execute("INSERT INTO t SELECT g, g::text, NULL FROM generate_series(1, 500) g")
    ec_conn.execute("UPDATE t SET raw = 'abc' WHERE id = 337")
    with pytest.raises(BackfillRowError) as info:
        run_backfill(
            ec_db.url,
            table="t",
            assignments={"n": "raw::int"},
            name="cast",
            settings=FAST.replace(batch_start_rows=100),
        )
    assert "(id)=(337)" in info.value.message
    assert 'invalid input syntax for type integer: "abc"' in info.value.message
    # Everything before the bad row is done and checkpointed; nothing after it.
    assert ec_conn.execute("SELECT count(*) FROM t WHERE n = id").fetchone() == (336,)
    assert ec_conn.execute(
        "SELECT count(*) FROM t WHERE id > 337 AND n IS NOT NULL"
    ).fetchone() == (0,)
    [status] = backfill_status(ec_db.url, "cast")
    assert status["status"] == "failed" and "(id)=(337)" in status["error"]
    assert status["rows_updated"] == 336
    ec_conn.execute("UPDATE t SET raw = '337' WHERE id = 337")
    result = run_backfill(
        ec_db.url, table="t", assignments={"n": "raw::int"}, name="cast", settings=FAST
    )
    assert result.verified and result.rows_updated == 500
    assert ec_conn.execute("SELECT count(*) FROM t WHERE n = id").fetchone() == (500,)
    assert_chained(ec_conn, "cast")


def test_statement_timeout_splits_the_batch(ec_db: Any, ec_conn: psycopg.Connection[Any]) -> None:
    make_table(ec_conn, 400)
    # Rows 200..260 are slow to compute: a 400-row batch cannot finish within 300 ms.
    ec_conn.execute(
        "CREATE FUNCTION slow(v int) RETURNS int LANGUAGE sql AS"
        " $$ SELECT v * 2 FROM (SELECT CASE WHEN v BETWEEN 200 AND 260"
        " THEN pg_sleep(0.01) END) s $$"
    )
    events: list[dict[str, Any]] = []
    result = run_backfill(
        ec_db.url,
        table="items",
        assignments={"b": "slow(a)"},
        name="split",
        settings=FAST.replace(batch_start_rows=400, statement_timeout_ms=300, verify=False),
        on_progress=events.append,
    )
    splits = [e for e in events if e["event"] == "split"]
    assert splits and splits[0]["reason"] == "QueryCanceled"
    assert "statement timeout" in splits[0]["error"]
    assert splits[0]["next_batch_size"] == 200
    assert wrong_rows(ec_conn) == 0 and result.rows_updated == 400
    assert_chained(ec_conn, "split")


def test_backend_killed_mid_batch_is_retried_without_loss(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    make_table(ec_conn, 600)
    ec_conn.execute(
        "CREATE FUNCTION slowish(v int) RETURNS int LANGUAGE sql AS"
        " $$ SELECT v * 2 FROM (SELECT pg_sleep(0.002)) s $$"
    )
    killed: list[int] = []

    def killer() -> None:
        with ec_db.connect() as conn:
            deadline = time.monotonic() + 20
            while len(killed) < 2 and time.monotonic() < deadline:
                rows = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = 'ec-backfill:kill'"
                    " AND query LIKE '%%_ec_upd%%' AND state = 'active'"
                ).fetchall()
                for (pid,) in rows:
                    conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    killed.append(pid)
                    time.sleep(0.3)
                time.sleep(0.005)

    thread = threading.Thread(target=killer)
    thread.start()
    events: list[dict[str, Any]] = []
    result = run_backfill(
        ec_db.url,
        table="items",
        assignments={"b": "slowish(a)"},
        name="kill",
        settings=fixed(50),
        on_progress=events.append,
    )
    thread.join()
    assert len(killed) == 2
    retries = [e for e in events if e["event"] == "retry"]
    assert len(retries) >= 2
    assert wrong_rows(ec_conn) == 0
    # Exact accounting: each row updated by exactly one committed batch.
    assert result.rows_updated == 600 and result.rows_scanned == 600
    assert_chained(ec_conn, "kill")
