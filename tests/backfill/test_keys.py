"""Every key shape pages correctly: each row visited exactly once, every row backfilled."""

from __future__ import annotations

from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expandcontract.backfill import run_backfill
from tests.backfill.conftest import FAST, assert_chained, fixed


def run(url: str, name: str, **kw: Any) -> Any:
    return run_backfill(url, name=name, settings=kw.pop("settings", fixed(7)), **kw)


def test_integer_primary_key(ec_db: Any, ec_conn: psycopg.Connection[Any]) -> None:
    ec_conn.execute("CREATE TABLE t (id integer PRIMARY KEY, a int, b int)")
    ec_conn.execute("INSERT INTO t SELECT g, g, NULL FROM generate_series(1, 100) g")
    result = run(ec_db.url, "int", table="t", assignments={"b": "a * 2"})
    assert (result.key_kind, result.rows_updated, result.rows_scanned) == ("integer", 100, 100)
    assert result.verified and result.stragglers == 0 and result.status == "done"
    assert ec_conn.execute("SELECT count(*) FROM t WHERE b = a * 2").fetchone() == (100,)
    assert_chained(ec_conn, "int")


def test_composite_key_with_text_and_order(ec_db: Any, ec_conn: psycopg.Connection[Any]) -> None:
    ec_conn.execute(
        "CREATE TABLE t (tenant text, seq bigint, a int, b int, PRIMARY KEY (tenant, seq))"
    )
    # Tenants whose text order differs from length order, seq restarting per tenant.
    ec_conn.execute(
        "INSERT INTO t SELECT t, s, s, NULL FROM unnest(ARRAY['b', 'a10', 'a9', 'Z', 'zz'])"
        " AS t, generate_series(1, 23) s"
    )
    result = run(ec_db.url, "comp", table="t", assignments={"b": "a + length(tenant)"})
    assert result.key_kind == "composite" and result.rows_scanned == 115
    assert ec_conn.execute("SELECT count(*) FROM t WHERE b = a + length(tenant)").fetchone() == (
        115,
    )
    assert_chained(ec_conn, "comp")


def test_uuid_key(ec_db: Any, ec_conn: psycopg.Connection[Any]) -> None:
    ec_conn.execute("CREATE TABLE t (id uuid PRIMARY KEY, a int, b int)")
    ec_conn.execute(
        "INSERT INTO t SELECT md5(g::text)::uuid, g, NULL FROM generate_series(1, 150) g"
    )
    result = run(ec_db.url, "uuid", table="t", assignments={"b": "a - 1"})
    assert result.key_kind == "uuid" and result.rows_scanned == 150
    assert ec_conn.execute("SELECT count(*) FROM t WHERE b = a - 1").fetchone() == (150,)
    assert_chained(ec_conn, "uuid")


def test_text_key_with_collation_order(ec_db: Any, ec_conn: psycopg.Connection[Any]) -> None:
    ec_conn.execute("CREATE TABLE t (code text PRIMARY KEY, b text)")
    ec_conn.execute(
        "INSERT INTO t SELECT x, NULL FROM unnest(ARRAY['a', 'B', 'b', '10', '9', 'ä', 'a b',"
        " 'a-b', '', ' ', 'Zeta', 'zeta', '💡', 'x''y']) AS x"
    )
    result = run(ec_db.url, "text", table="t", assignments={"b": "upper(code)"}, settings=fixed(3))
    assert result.key_kind == "text" and result.rows_scanned == 14
    assert ec_conn.execute("SELECT count(*) FROM t WHERE b = upper(code)").fetchone() == (14,)
    assert_chained(ec_conn, "text")


def test_unique_not_null_key_when_no_primary_key(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    ec_conn.execute("CREATE TABLE t (code text NOT NULL UNIQUE, nullable int UNIQUE, b int)")
    ec_conn.execute("INSERT INTO t SELECT 'k' || g, NULL, NULL FROM generate_series(1, 40) g")
    result = run(ec_db.url, "uniq", table="t", assignments={"b": "length(code)"})
    assert result.key.startswith("keyset on code")
    assert ec_conn.execute("SELECT count(*) FROM t WHERE b = length(code)").fetchone() == (40,)


def test_no_key_falls_back_to_ctid_and_says_so(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    ec_conn.execute("CREATE TABLE t (a int, b int, pad text)")
    ec_conn.execute(
        "INSERT INTO t SELECT g, NULL, repeat('x', 200) FROM generate_series(1, 3000) g"
    )
    ec_conn.execute("INSERT INTO t SELECT 7, NULL, 'dup' FROM generate_series(1, 5)")  # duplicates
    ec_conn.execute("ANALYZE t")
    events: list[dict[str, Any]] = []
    result = run(
        ec_db.url,
        "noPK",
        table="t",
        assignments={"b": "a + 1"},
        settings=fixed(200),
        on_progress=events.append,
    )
    assert result.key_kind == "ctid" and "ctid ranges" in result.key
    assert "no primary key" in events[0]["key"]
    assert result.rows_updated == 3005 and result.verified
    assert ec_conn.execute("SELECT count(*) FROM t WHERE b IS DISTINCT FROM a + 1").fetchone() == (
        0,
    )
    assert_chained(ec_conn, "noPK")


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    ids=st.sets(st.integers(-(2**62), 2**62), min_size=0, max_size=60),
    size=st.integers(1, 9),
    workers=st.sampled_from([1, 1, 2]),
)
def test_sparse_integer_ids_any_batch_size(
    ec_db: Any, ids: set[int], size: int, workers: int
) -> None:
    with ec_db.connect() as conn:
        conn.execute("DROP SCHEMA IF EXISTS expandcontract CASCADE")
        conn.execute("DROP TABLE IF EXISTS t")
        conn.execute("CREATE TABLE t (id bigint PRIMARY KEY, a bigint, b bigint)")
        for i in ids:
            conn.execute("INSERT INTO t VALUES (%s, %s, NULL)", (i, i % 1000))
        result = run_backfill(
            ec_db.url,
            table="t",
            assignments={"b": "a + 1"},
            name="sparse",
            settings=fixed(size, workers=workers, ranges_per_worker=2),
        )
        assert result.rows_scanned == len(ids) and result.rows_updated == len(ids)
        assert conn.execute("SELECT count(*) FROM t WHERE b = a + 1").fetchone() == (len(ids),)
        if ids:
            assert_chained(conn, "sparse")


def test_where_filter_and_rerun_is_a_noop(ec_db: Any, ec_conn: psycopg.Connection[Any]) -> None:
    ec_conn.execute("CREATE TABLE t (id int PRIMARY KEY, a int, b int)")
    ec_conn.execute(
        "INSERT INTO t SELECT g, g, CASE WHEN g % 2 = 0 THEN -1 END FROM generate_series(1, 50) g"
    )
    first = run_backfill(
        ec_db.url, table="t", assignments={"b": "a"}, where="b IS NULL", settings=FAST
    )
    assert first.rows_updated == 25
    assert ec_conn.execute("SELECT count(*) FROM t WHERE b = -1").fetchone() == (25,)
    again = run_backfill(
        ec_db.url, table="t", assignments={"b": "a"}, where="b IS NULL", settings=FAST
    )
    assert again.name == first.name and again.rows_updated == 25 and again.batches == first.batches
