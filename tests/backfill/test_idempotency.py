"""A backfill changes each row exactly once, whatever the expression: non-idempotent ones
(``n = n + 1``, ``now()``, ``gen_random_uuid()``, ``nextval``) run in "once" mode (no
re-evaluating comparison, no verification sweep, never reported as verified); ctid paging is
refused for them; idempotent ones still converge and are verified by the sweep."""

from __future__ import annotations

import random
import threading
from typing import Any

import psycopg
import pytest

from expandcontract.backfill import BackfillInputError, run_backfill
from tests.backfill.conftest import FAST, assert_chained, fixed
from tests.backfill.counted import counted_table, histogram, snapshot


@pytest.mark.parametrize("workers", [1, 2])
def test_increment_is_applied_exactly_once(
    ec_db: Any, ec_conn: psycopg.Connection[Any], workers: int
) -> None:
    counted_table(ec_conn, 10_000)
    result = run_backfill(
        ec_db.url,
        table="t",
        assignments={"n": "n + 1"},
        name="x",
        settings=FAST.replace(workers=workers),
    )
    assert histogram(ec_conn, "n") == {1: 10_000}
    assert histogram(ec_conn, "writes") == {1: 10_000}
    assert result.rows_updated == 10_000
    assert result.mode == "once" and not result.verified
    assert "reads n, which the backfill's own write changes" in result.mode_reason
    assert_chained(ec_conn, "x")


def test_increment_with_a_concurrent_writer_on_other_columns(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    """The application updates other columns of the same rows meanwhile: a batch waiting on
    such a row re-evaluates n + 1 on its newest version, once."""
    counted_table(ec_conn, 10_000)
    stop = threading.Event()
    writes: list[int] = []

    def app() -> None:
        rng = random.Random(7)
        with psycopg.connect(ec_db.url, autocommit=True) as conn:
            while not stop.is_set():
                ids = sorted({rng.randint(1, 10_000) for _ in range(20)})
                with conn.transaction():
                    conn.execute("UPDATE t SET other = other + 1 WHERE id = ANY(%s)", (ids,))
                writes.append(len(ids))

    threads = [threading.Thread(target=app) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        result = run_backfill(
            ec_db.url, table="t", assignments={"n": "n + 1"}, name="x", settings=fixed(250)
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert sum(writes) > 500
    assert ec_conn.execute("SELECT sum(other) FROM t").fetchone() == (sum(writes),)
    assert histogram(ec_conn, "n") == {1: 10_000}
    assert result.mode == "once" and not result.verified


@pytest.mark.parametrize(
    ("column", "expression"),
    [("ts", "now()"), ("token", "gen_random_uuid()"), ("ts", "clock_timestamp()")],
)
def test_volatile_assignment_is_written_once_per_row(
    ec_db: Any, ec_conn: psycopg.Connection[Any], column: str, expression: str
) -> None:
    counted_table(ec_conn, 3000)
    result = run_backfill(
        ec_db.url, table="t", assignments={column: expression}, name="v", settings=fixed(300)
    )
    # One write per row: no second write by a comparison or a sweep.
    assert histogram(ec_conn, "writes") == {1: 3000}
    assert ec_conn.execute(f"SELECT count(*) FROM t WHERE {column} IS NULL").fetchone() == (0,)
    assert result.mode == "once" and not result.verified and result.stragglers == 0
    assert expression.split("(", maxsplit=1)[0] in result.mode_reason
    if column == "token":
        assert ec_conn.execute("SELECT count(DISTINCT token) FROM t").fetchone() == (3000,)


def test_sequence_is_evaluated_once_per_row(ec_db: Any, ec_conn: psycopg.Connection[Any]) -> None:
    """No comparison evaluates the expression a second time: the sequence moves by exactly
    the number of rows, and every row gets its own value."""
    counted_table(ec_conn, 2000)
    ec_conn.execute("CREATE SEQUENCE s")
    result = run_backfill(
        ec_db.url, table="t", assignments={"seq": "nextval('s')"}, name="seq", settings=fixed(150)
    )
    assert ec_conn.execute("SELECT last_value FROM s").fetchone() == (2000,)
    assert ec_conn.execute("SELECT min(seq), max(seq), count(DISTINCT seq) FROM t").fetchone() == (
        1,
        2000,
        2000,
    )
    assert result.mode == "once" and "nextval" in result.mode_reason


def test_where_filter_is_applied_once_with_a_once_expression(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    counted_table(ec_conn, 1000)
    result = run_backfill(
        ec_db.url,
        table="t",
        assignments={"n": "n + 10"},
        where="id % 3 = 0",
        name="w",
        settings=fixed(70),
    )
    assert result.mode == "once" and result.rows_updated == 333
    assert histogram(ec_conn, "n") == {0: 667, 10: 333}
    assert histogram(ec_conn, "writes") == {0: 667, 1: 333}


def test_ctid_table_refuses_a_non_idempotent_backfill(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    counted_table(ec_conn, 500, primary_key=False)
    before = snapshot(ec_conn)
    with pytest.raises(BackfillInputError) as info:
        run_backfill(ec_db.url, table="t", assignments={"n": "n + 1"}, settings=FAST)
    message = info.value.message
    assert "public.t has no primary key or unique NOT NULL key" in message
    assert "--set n = n + 1 reads n" in message and "exactly once" in message
    assert "an updated row moves to another page" in message
    assert info.value.hint is not None
    assert "add a primary key" in info.value.hint
    assert '--set "n2 = n + 1" --where "n2 IS NULL"' in info.value.hint
    assert info.value.exit_code == 2
    assert snapshot(ec_conn) == before


def test_the_suggested_idempotent_form_runs_on_a_ctid_table(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    counted_table(ec_conn, 3000, primary_key=False)
    result = run_backfill(
        ec_db.url,
        table="t",
        assignments={"n2": "n + 1"},
        where="n2 IS NULL",
        name="n2",
        settings=fixed(200),
    )
    assert result.key_kind == "ctid" and result.mode == "converge" and result.verified
    assert histogram(ec_conn, "n2") == {1: 3000}
    # Rows the batches moved to later pages are seen again, but not written again.
    assert histogram(ec_conn, "writes") == {1: 3000}


def test_idempotent_backfill_still_verifies_and_fixes_stragglers(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    counted_table(ec_conn, 1000)

    def legacy_write(event: dict[str, Any]) -> None:
        # Before the sweep, an application without dual writes leaves two rows stale.
        if event["event"] == "phase":
            ec_conn.execute("UPDATE t SET n2 = -1 WHERE id IN (10, 900)")

    result = run_backfill(
        ec_db.url,
        table="t",
        assignments={"n2": "n + id"},
        name="conv",
        settings=fixed(100),
        on_progress=legacy_write,
    )
    assert result.mode == "converge" and result.verified and result.stragglers == 2
    stale = ec_conn.execute("SELECT count(*) FROM t WHERE n2 IS DISTINCT FROM n + id")
    assert stale.fetchone() == (0,)
    # Backfill once, the two stale rows: the app's write and the sweep's fix.
    assert histogram(ec_conn, "writes") == {1: 998, 3: 2}


def test_once_covers_rows_present_when_their_window_runs(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    """Rows the application inserts behind the cursor are not touched, rows inserted ahead
    of it are; a row whose key the application moves from behind the cursor to ahead of it
    meets the backfill twice (the documented limit of once mode)."""
    counted_table(ec_conn, 1000)
    seen: list[int] = []

    def app(event: dict[str, Any]) -> None:
        if event["event"] == "batch" and not seen:
            seen.append(1)
            ec_conn.execute("INSERT INTO t (id) VALUES (-1), (5000)")
            ec_conn.execute("UPDATE t SET id = 6000 WHERE id = 1")

    result = run_backfill(
        ec_db.url,
        table="t",
        assignments={"n": "n + 1"},
        name="app",
        settings=fixed(100),
        on_progress=app,
    )
    assert result.mode == "once"
    rows = dict(ec_conn.execute("SELECT id, n FROM t WHERE id IN (-1, 5000, 6000)").fetchall())
    assert rows == {-1: 0, 5000: 1, 6000: 2}
    assert ec_conn.execute(
        "SELECT count(*) FROM t WHERE id BETWEEN 2 AND 1000 AND n <> 1"
    ).fetchone() == (0,)
