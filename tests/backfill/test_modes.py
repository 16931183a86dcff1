"""Which backfills converge (re-evaluation is harmless: verified by a sweep) and which must
run once: decided from PostgreSQL's own analysis of each expression, cross-checked against
PostgreSQL's immutability rule for generated columns."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

from expandcontract.backfill import BackfillSpec, run_backfill
from expandcontract.backfill.validate import resolve
from expandcontract.operations.state import PENDING
from expandcontract.runner.runner import connect
from tests.backfill.conftest import FAST

SCHEMA = """
CREATE TABLE t (id int PRIMARY KEY, a int, n int, b int, note text, label text,
                ts timestamptz, d date, doc jsonb, _ec_pending boolean DEFAULT true);
CREATE TABLE other (k int PRIMARY KEY, v int);
CREATE SEQUENCE s;
CREATE VIEW t_n AS SELECT id, n FROM t;
CREATE VIEW t_n_again AS SELECT id, n + 0 AS m FROM t_n;
CREATE VIEW t_a AS SELECT id, a FROM t;
CREATE VIEW t_all AS SELECT t FROM t;
CREATE FUNCTION imm_f(int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS 'BEGIN RETURN $1 * 3; END';
CREATE FUNCTION stable_f(int) RETURNS int STABLE LANGUAGE plpgsql AS 'BEGIN RETURN $1 * 3; END';
CREATE FUNCTION imm_lie(int) RETURNS int IMMUTABLE LANGUAGE sql
    AS 'SELECT $1 + (random() * 0)::int';
CREATE FUNCTION stable_sql(int) RETURNS int STABLE LANGUAGE sql AS 'SELECT $1 * 3';
"""

# (assignments, where, reason fragment)
CONVERGE = [
    ({"b": "a * 2"}, None),
    ({"label": "lower(note) || '%'"}, None),
    ({"b": "coalesce(a, 0) + length(note)"}, None),
    ({"label": "a::text"}, None),
    ({"b": "(doc ->> 'x')::int"}, None),
    ({"b": "CASE WHEN a > 0 THEN imm_f(a) END"}, None),
    # Declared volatility counts: a function declared IMMUTABLE is trusted.
    ({"b": "imm_lie(a)"}, None),
    ({"b": "(SELECT v FROM other WHERE other.k = t.a)"}, None),
    ({"n": "(SELECT a FROM t_a WHERE t_a.id = t.id)"}, None),
    ({"d": "'2020-01-01'"}, None),
    ({"b": "a", "label": "note"}, None),
    ({"b": "a"}, "b IS NULL"),
    ({"b": "a"}, "ts < now() - interval '1 day'"),
    ({"b": "a"}, "id % 3 = 0"),
]
ONCE = [
    ({"n": "n + 1"}, None, "--set n = n + 1 reads n, which the backfill's own write changes"),
    ({"b": "b * 2"}, None, "reads b"),
    ({"n": "(SELECT max(n) FROM t)"}, None, "reads n"),
    ({"n": "(SELECT max(x.n) FROM t x WHERE x.id < t.id)"}, None, "reads n"),
    ({"n": "t.n + 1"}, None, "reads n"),
    ({"n": "(SELECT n FROM t_n WHERE t_n.id = t.id) + 1"}, None, "reads n"),
    ({"n": "(SELECT m FROM t_n_again WHERE t_n_again.id = t.id) + 1"}, None, "reads n"),
    ({"b": "(SELECT count(*) FROM t_all)::int"}, None, "reads the whole row"),
    ({"n": "a", "b": "n + 1"}, None, "--set b = n + 1 reads n"),
    ({"label": "row_to_json(t)::text"}, None, "reads the whole row"),
    ({"label": "xmin::text"}, None, "reads xmin"),
    ({"ts": "now()"}, None, "calls now() (stable)"),
    ({"ts": "current_timestamp"}, None, "stable"),
    ({"ts": "clock_timestamp()"}, None, "calls clock_timestamp() (volatile)"),
    ({"b": "(random() * 10)::int"}, None, "calls random() (volatile)"),
    ({"b": "nextval('s')"}, None, "nextval(regclass) (volatile)"),
    ({"label": "ts::text"}, None, "timestamptz_out(timestamp with time zone) (stable)"),
    ({"label": "to_char(ts, 'YYYY')"}, None, "(stable)"),
    ({"b": "stable_f(a)"}, None, "calls stable_f(integer) (stable)"),
    # Declared volatility counts, even where the planner could inline it to immutable.
    ({"b": "stable_sql(a)"}, None, "calls stable_sql(integer) (stable)"),
    ({"b": "(SELECT v FROM other TABLESAMPLE BERNOULLI (50) LIMIT 1)"}, None, "TABLESAMPLE"),
    ({"b": "a"}, "random() < 0.5", "--where random() < 0.5 calls random() (volatile)"),
]


@pytest.fixture
def conn(ec_db: Any, ec_conn: psycopg.Connection[Any]) -> Any:
    ec_conn.execute(SCHEMA)
    with connect(ec_db.url) as c:
        yield c


def mode_of(conn: Any, assignments: dict[str, str], where: str | None = None) -> Any:
    spec = BackfillSpec.build(table="t", assignments=assignments, where=where)
    return resolve(conn, spec).mode


@pytest.mark.parametrize(("assignments", "where"), CONVERGE)
def test_deterministic_expressions_converge(
    conn: Any, assignments: dict[str, str], where: str | None
) -> None:
    mode = mode_of(conn, assignments, where)
    assert (mode.name, mode.once) == ("converge", False), mode.reason


@pytest.mark.parametrize(("assignments", "where", "reason"), ONCE)
def test_other_expressions_run_once_and_say_why(
    conn: Any, assignments: dict[str, str], where: str | None, reason: str
) -> None:
    mode = mode_of(conn, assignments, where)
    assert mode.name == "once" and mode.once
    assert reason in mode.reason


def test_the_engine_backfill_converges(ec_db: Any, conn: Any) -> None:
    """The migration engine's own backfill (engine/backfill.py) sets the pending marker to a
    constant where it is still set: it must be verified by the sweep, on keyed and on
    key-less (ctid) tables alike."""
    where = sql.Identifier(PENDING).as_string(None)
    assert mode_of(conn, {PENDING: "false"}, where).name == "converge"
    conn.execute("CREATE TABLE heap (a int, _ec_pending boolean DEFAULT true)")
    spec = BackfillSpec.build(table="heap", assignments={PENDING: "false"}, where=where)
    target = resolve(conn, spec)
    assert target.key.is_ctid and target.mode.name == "converge"


def test_without_the_temporary_privilege_it_runs_once_and_says_why(ec_db: Any, conn: Any) -> None:
    role = f"ec_no_temp_{ec_db.name[-8:]}"
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        conn.execute(
            sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC").format(
                sql.Identifier(ec_db.name)
            )
        )
        conn.execute(sql.SQL("GRANT SELECT, UPDATE ON t TO {}").format(sql.Identifier(role)))
        with connect(ec_db.url) as admin:
            admin.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            mode = mode_of(admin, {"b": "a * 2"})
        assert mode.name == "once"
        assert "TEMPORARY privilege" in mode.reason and "permission denied" in mode.reason
    finally:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def _generated_column_accepts(conn: Any, column: str, expression: str) -> bool:
    """PostgreSQL's own rule: a generated column's expression must be immutable."""
    ctype = conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = 't'::regclass AND attname = %s",
        (column,),
    ).fetchone()[0]
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("CREATE TEMP TABLE probe (LIKE t)")
            conn.execute(
                f"ALTER TABLE probe ADD COLUMN g {ctype}"
                f" GENERATED ALWAYS AS (CAST(({expression}) AS {ctype})) STORED"
            )
    except psycopg.errors.InvalidObjectDefinition as exc:
        assert "immutable" in str(exc)
        return False
    return True


# Subquery-free expressions that do not read their own column: there the generated-column
# rule and the classification must agree.
IMMUTABILITY = [
    ("b", "a * 2"),
    ("label", "lower(note) || '%'"),
    ("b", "coalesce(a, 0) + length(note)"),
    ("label", "a::text"),
    ("b", "(doc ->> 'x')::int"),
    ("b", "CASE WHEN a > 0 THEN imm_f(a) END"),
    ("d", "'2020-01-01'"),
    ("ts", "now()"),
    ("ts", "current_timestamp"),
    ("ts", "clock_timestamp()"),
    ("b", "(random() * 10)::int"),
    ("b", "nextval('s')"),
    ("label", "ts::text"),
    ("label", "d::text"),
    ("label", "to_char(ts, 'YYYY')"),
    ("label", "note || ts"),
    ("d", "ts::date"),
    ("b", "stable_f(a)"),
    ("b", "length(doc::text)"),
]


@pytest.mark.parametrize(("column", "expression"), IMMUTABILITY)
def test_agrees_with_postgres_immutability(conn: Any, column: str, expression: str) -> None:
    expected = _generated_column_accepts(conn, column, expression)
    assert (mode_of(conn, {column: expression}).name == "converge") == expected


def test_a_stored_generated_column_of_an_assigned_column_makes_it_once(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    """`a = twice + 1` where twice is generated from a: the write changes what it reads."""
    ec_conn.execute(
        "CREATE TABLE g (id int PRIMARY KEY, a int NOT NULL,"
        " twice int GENERATED ALWAYS AS (a * 2) STORED)"
    )
    ec_conn.execute("INSERT INTO g (id, a) SELECT i, 1 FROM generate_series(1, 100) i")
    result = run_backfill(ec_db.url, table="g", assignments={"a": "twice + 1"}, name="gen",
                          settings=FAST)  # fmt: skip
    assert result.mode == "once" and not result.verified
    assert "generated from an assigned column" in result.mode_reason
    assert ec_conn.execute("SELECT a, count(*) FROM g GROUP BY a").fetchall() == [(3, 100)]


def test_a_before_update_trigger_makes_an_expression_that_reads_columns_once(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    ec_conn.execute(
        "CREATE TABLE u (id int PRIMARY KEY, version int NOT NULL DEFAULT 0, v_copy int)"
    )
    ec_conn.execute(
        "CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS"
        " 'BEGIN NEW.version := OLD.version + 1; RETURN NEW; END'"
    )
    ec_conn.execute("CREATE TRIGGER bump BEFORE UPDATE ON u FOR EACH ROW EXECUTE FUNCTION bump()")
    ec_conn.execute("INSERT INTO u (id) SELECT i FROM generate_series(1, 100) i")
    result = run_backfill(ec_db.url, table="u", assignments={"v_copy": "version"}, name="trg",
                          settings=FAST)  # fmt: skip
    assert result.mode == "once" and not result.verified
    assert "BEFORE UPDATE trigger(s) bump" in result.mode_reason
    # Each row written exactly once: the trigger bumped version once, v_copy saw the old one.
    assert ec_conn.execute("SELECT version, v_copy, count(*) FROM u GROUP BY 1, 2").fetchall() == [
        (1, 0, 100)
    ]
    # A constant needs no second look at the row: the same trigger leaves it converging.
    constant = run_backfill(ec_db.url, table="u", assignments={"v_copy": "7"}, name="const",
                            settings=FAST)  # fmt: skip
    assert constant.mode == "converge" and constant.verified


def test_a_trigger_that_does_not_touch_what_the_expression_reads_keeps_it_converging(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    """An updated_at trigger - the common case - changes no column `b = a * 2` reads."""
    ec_conn.execute("CREATE TABLE w (id int PRIMARY KEY, a int, b int, updated_at timestamptz)")
    ec_conn.execute(
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS"
        " 'BEGIN NEW.updated_at := now(); RETURN NEW; END'"
    )
    ec_conn.execute("CREATE TRIGGER touch BEFORE UPDATE ON w FOR EACH ROW EXECUTE FUNCTION touch()")
    ec_conn.execute("INSERT INTO w (id, a) SELECT i, i FROM generate_series(1, 100) i")
    result = run_backfill(ec_db.url, table="w", assignments={"b": "a * 2"}, name="w",
                          settings=FAST)  # fmt: skip
    assert result.mode == "converge" and result.verified
    assert ec_conn.execute("SELECT count(*) FROM w WHERE b = a * 2").fetchone() == (100,)
