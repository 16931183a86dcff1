"""``ec lint -d URL``: old column types, existing tables and table sizes from a real database's
catalog, read through a session that cannot write. Without a database, today's behaviour."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from expandcontract.cli import cli
from expandcontract.lint.api import run_lint
from expandcontract.lint.catalog import (
    LARGE_TABLE_BYTES,
    LARGE_TABLE_ROWS,
    Catalog,
    CatalogError,
    SizeLimits,
    TableFacts,
    load_catalog,
    read_only_session,
)
from expandcontract.lint.findings import Finding
from expandcontract.lint.pgtypes import from_text
from expandcontract.lint.rules._coercion import rewrites
from expandcontract.lint.rules._size import grade
from expandcontract.lint.rules.changing_column_type import UNKNOWN_OLD
from expandcontract.pytest_plugin import EcDatabase
from tests.lint.helpers import lint

# (old, new): each pair is run on the server and compared with ``rewrites`` — both sides of
# every entry of the no-rewrite list, and the usual rewrites
PAIRS = [
    ("varchar(10)", "varchar(20)"), ("varchar(10)", "varchar(10)"), ("varchar(20)", "varchar(10)"),
    ("varchar(10)", "varchar"), ("varchar(10)", "text"), ("varchar", "text"),
    ("text", "varchar"), ("text", "varchar(10)"), ("varchar", "varchar(10)"),
    ("char(10)", "char(20)"), ("char(10)", "text"), ("varchar(10)", "char(20)"),
    ("numeric(10,2)", "numeric(12,2)"), ("numeric(10,2)", "numeric(10,2)"),
    ("numeric(10,2)", "numeric(9,2)"), ("numeric(10,2)", "numeric(12,3)"),
    ("numeric(10,2)", "numeric"), ("numeric", "numeric(10,2)"), ("numeric(10)", "numeric(12)"),
    ("integer", "bigint"), ("bigint", "integer"), ("smallint", "integer"), ("integer", "numeric"),
    ("serial", "integer"), ("integer", "text"), ("uuid", "text"), ("json", "jsonb"),
    ("timestamp(3)", "timestamp(6)"), ("timestamp(3)", "timestamp(3)"),
    ("timestamp(6)", "timestamp(3)"), ("timestamp(3)", "timestamp"), ("timestamp", "timestamp(3)"),
    ("timestamptz(3)", "timestamptz"), ("time(3)", "time(6)"), ("time(6)", "time(3)"),
    ("timetz(3)", "timetz"), ("timetz(3)", "timetz(6)"), ("timetz(6)", "timetz(3)"),
    ("interval(3)", "interval"), ("interval", "interval(3)"),
    ("cidr", "inet"), ("inet", "cidr"), ("xml", "text"),
    ("varchar(10)[]", "text[]"), ("integer[]", "integer[]"), ("integer[]", "bigint[]"),
]  # fmt: skip
TZ_PAIRS = [
    ("timestamp", "timestamptz"), ("timestamptz", "timestamp"), ("timestamp(3)", "timestamptz"),
    ("timestamp(3)", "timestamptz(3)"), ("timestamp", "timestamptz(3)"),
]  # fmt: skip


def _server(conn: psycopg.Connection[Any]) -> tuple[int, str]:
    version, tz = conn.execute(
        "SELECT current_setting('server_version_num')::int, current_setting('TimeZone')"
    ).fetchone()  # type: ignore[misc]
    return int(version) // 10_000, str(tz)


def _really_rewrites(conn: psycopg.Connection[Any], old: str, new: str) -> bool:
    conn.execute(f"DROP TABLE IF EXISTS probe; CREATE TABLE probe (c {old})")
    conn.execute("INSERT INTO probe DEFAULT VALUES")
    before = conn.execute("SELECT pg_relation_filenode('probe')").fetchone()
    conn.execute(f"ALTER TABLE probe ALTER COLUMN c TYPE {new}")
    return before != conn.execute("SELECT pg_relation_filenode('probe')").fetchone()


def test_no_rewrite_list_matches_the_server(ec_conn: psycopg.Connection[Any]) -> None:
    major, tz = _server(ec_conn)
    wrong = [
        (old, new)
        for old, new in PAIRS
        if rewrites(from_text(old), from_text(new), server_major=major, timezone=tz)
        != _really_rewrites(ec_conn, old, new)
    ]
    assert wrong == []


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC", "Europe/Paris", "Europe/London"])
def test_timestamp_timestamptz_depends_on_the_time_zone(
    ec_conn: psycopg.Connection[Any], zone: str
) -> None:
    ec_conn.execute("SELECT set_config('TimeZone', %s, false)", (zone,))
    major, tz = _server(ec_conn)
    assert tz == zone
    seen = {(old, new): _really_rewrites(ec_conn, old, new) for old, new in TZ_PAIRS}
    predicted = {
        (old, new): rewrites(from_text(old), from_text(new), server_major=major, timezone=tz)
        for old, new in TZ_PAIRS
    }
    assert predicted == seen
    # London has a zero offset in winter but is not UTC: PostgreSQL rewrites there
    assert seen[("timestamp", "timestamptz")] is (zone.startswith("Europe"))


# --- end to end through the library API and the CLI ----------------------------------------


def _lint_file(tmp_path: Path, sql: str, db: EcDatabase | None, **options: Any) -> list[Finding]:
    path = tmp_path / "0002_change.sql"
    path.write_text(sql)
    reports, _ = run_lint(
        [str(path)], use_cache=False, database_url=db.url if db else None, **options
    )
    return [f for r in reports for f in r.findings]


def _only(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


SCHEMA = """
CREATE TABLE users (id bigint PRIMARY KEY, name varchar(20), nick varchar(10), bio text,
                    age integer, ts timestamp, price numeric(10,2), email text);
INSERT INTO users SELECT g, 'n', 'k', 'b', 1, now(), 1, 'e' FROM generate_series(1, 50) g;
CREATE TABLE empty_t (id bigint PRIMARY KEY, email text, note varchar(20));
CREATE SCHEMA app;
CREATE TABLE app.orders (id bigint PRIMARY KEY, note varchar(5));
INSERT INTO app.orders SELECT g, 'x' FROM generate_series(1, 200) g;
ANALYZE;
"""


@pytest.fixture
def db(ec_db: EcDatabase) -> EcDatabase:
    with ec_db.connect() as conn:
        conn.execute(SCHEMA)
        conn.execute(f"ALTER DATABASE {ec_db.name} SET TimeZone = 'UTC'")
    return ec_db


@pytest.mark.parametrize(
    ("change", "fires"),
    [
        ("name TYPE text", False),  # varchar -> text: catalog only
        ("name TYPE varchar(40)", False),
        ("name TYPE varchar(5)", True),
        ("bio TYPE varchar(10)", True),  # a new limit checks every row
        ("bio TYPE text", False),
        ("age TYPE bigint", True),
        ("age TYPE text", True),  # "TYPE text" is not safe from integer
        ("price TYPE numeric(12,2)", False),
        ("price TYPE numeric(12,3)", True),
        ("ts TYPE timestamptz", False),  # the database's TimeZone is UTC
        ("name TYPE text USING name::text", True),
    ],
)
def test_old_type_from_the_catalog_decides(
    tmp_path: Path, db: EcDatabase, change: str, fires: bool
) -> None:
    findings = _lint_file(tmp_path, f"ALTER TABLE users ALTER COLUMN {change};\n", db)
    found = _only(findings, "changing-column-type")
    assert bool(found) is fires
    if fires:
        assert "users has ~50 rows" in found[0].message
        assert UNKNOWN_OLD not in found[0].message


def test_message_names_both_types(tmp_path: Path, db: EcDatabase) -> None:
    sql = "ALTER TABLE users ALTER COLUMN age TYPE bigint;\n"
    [finding] = _only(_lint_file(tmp_path, sql, db), "changing-column-type")
    assert "changes integer to bigint" in finding.message


def test_time_zone_of_the_database_decides_timestamptz(tmp_path: Path, db: EcDatabase) -> None:
    with db.connect() as conn:
        conn.execute(f"ALTER DATABASE {db.name} SET TimeZone = 'Europe/Paris'")
    sql = "ALTER TABLE users ALTER COLUMN ts TYPE timestamptz;\n"
    assert _only(_lint_file(tmp_path, sql, db), "changing-column-type")


def test_without_a_database_the_old_type_is_unknown(tmp_path: Path) -> None:
    [to_text] = _only(
        lint("ALTER TABLE users ALTER COLUMN name TYPE text;"), "changing-column-type"
    )
    assert UNKNOWN_OLD in to_text.message
    [bigint] = _only(
        lint("ALTER TABLE users ALTER COLUMN age TYPE bigint;"), "changing-column-type"
    )
    assert UNKNOWN_OLD in bigint.message
    assert "rewrites the table" in bigint.message
    assert bigint.severity == "error"  # as before schema-aware lint


def test_a_column_added_earlier_in_the_file_has_its_type() -> None:
    added = "ALTER TABLE users ADD COLUMN note varchar(20);\n"
    assert not _only(lint(added + "ALTER TABLE users ALTER COLUMN note TYPE text;"),
                     "changing-column-type")  # fmt: skip
    [f] = _only(lint(added + "ALTER TABLE users ALTER COLUMN note TYPE integer USING 1;"),
                "changing-column-type")  # fmt: skip
    assert "changes character varying(20) to integer" in f.message


def test_a_type_set_earlier_in_the_file_overrides_the_catalog(
    tmp_path: Path, db: EcDatabase
) -> None:
    sql = (
        "ALTER TABLE users ALTER COLUMN age TYPE varchar(30) USING age::text;\n"
        "ALTER TABLE users ALTER COLUMN age TYPE text;\n"
    )
    found = _only(_lint_file(tmp_path, sql, db), "changing-column-type")
    assert [f.line for f in found] == [1]


def test_missing_table_and_new_table(tmp_path: Path, db: EcDatabase) -> None:
    sql = (
        "ALTER TABLE ghosts ALTER COLUMN a TYPE bigint;\n"
        "CREATE TABLE fresh (a int);\n"
        "ALTER TABLE fresh ALTER COLUMN a TYPE bigint;\n"
    )
    found = _only(_lint_file(tmp_path, sql, db), "changing-column-type")
    assert [f.line for f in found] == [1]
    assert "ghosts is not in the database" in found[0].message


def test_search_path_of_the_file_resolves_names(tmp_path: Path, db: EcDatabase) -> None:
    sql = "SET search_path = app;\nALTER TABLE orders ALTER COLUMN note TYPE varchar(3);\n"
    [f] = _only(_lint_file(tmp_path, sql, db), "changing-column-type")
    assert "app.orders has ~200 rows" in f.message
    qualified = "ALTER TABLE app.orders ALTER COLUMN note TYPE text;\n"
    assert not _only(_lint_file(tmp_path, qualified, db), "changing-column-type")


# --- size: wording and severity --------------------------------------------------------------

SIZE_CASES = [
    ("changing-column-type", "ALTER TABLE {t} ALTER COLUMN id TYPE integer;"),
    ("add-column-rewrite-default",
     "ALTER TABLE {t} ADD COLUMN token uuid DEFAULT gen_random_uuid();"),
    ("set-not-null", "ALTER TABLE {t} ALTER COLUMN email SET NOT NULL;"),
    ("constraint-missing-not-valid",
     "ALTER TABLE {t} ADD CONSTRAINT {t}_c CHECK (email <> '');"),
    ("foreign-key-missing-not-valid",
     "ALTER TABLE {t} ADD CONSTRAINT {t}_fk FOREIGN KEY (id) REFERENCES users (id);"),
]  # fmt: skip


@pytest.fixture
def sized(ec_db: EcDatabase) -> EcDatabase:
    """Tables of 0, 99 and 100 rows: both sides of the 100-row limit the tests set."""
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE users (id bigint PRIMARY KEY)")
        for name, rows in (("empty_t", 0), ("small_t", 99), ("big_t", 100)):
            conn.execute(f"CREATE TABLE {name} (id bigint PRIMARY KEY, email text)")
            conn.execute(f"INSERT INTO {name} SELECT g, 'e' FROM generate_series(1, {rows}) g")
        conn.execute("ANALYZE")
    return ec_db


@pytest.mark.parametrize(("rule", "sql"), SIZE_CASES, ids=[c[0] for c in SIZE_CASES])
def test_size_decides_wording_and_severity(
    tmp_path: Path, sized: EcDatabase, rule: str, sql: str
) -> None:
    seen = {}
    for table in ("empty_t", "small_t", "big_t"):
        findings = _only(
            _lint_file(tmp_path, sql.format(t=table), sized, large_table_rows=100), rule
        )
        assert len(findings) == 1, (table, findings)
        seen[table] = findings[0]
    assert "empty_t is empty in the database" in seen["empty_t"].message
    assert "small_t has ~99 rows" in seen["small_t"].message
    assert "big_t has ~100 rows" in seen["big_t"].message
    severities = {t: f.severity for t, f in seen.items()}
    assert severities == {"empty_t": "info", "small_t": "warning", "big_t": "error"}
    without = _only(lint(sql.format(t="big_t")), rule)
    assert [f.severity for f in without] == ["error"]
    assert "rows" not in without[0].message  # no size without a database


def test_required_field_on_empty_and_filled_tables(tmp_path: Path, sized: EcDatabase) -> None:
    def finding(table: str) -> Finding:
        sql = f"ALTER TABLE {table} ADD COLUMN tenant bigint NOT NULL;"
        [f] = _only(_lint_file(tmp_path, sql, sized), "adding-required-field")
        return f

    empty, filled = finding("empty_t"), finding("small_t")
    assert "empty_t is empty in the database, so it succeeds" in empty.message
    assert empty.severity == "warning"  # the old version's INSERTs still fail
    assert "PostgreSQL rejects it" in filled.message
    assert filled.severity == "error"


def test_exit_code_follows_size(tmp_path: Path, sized: EcDatabase) -> None:
    path = tmp_path / "m.sql"
    path.write_text("ALTER TABLE empty_t ALTER COLUMN email SET NOT NULL;\n")
    options: dict[str, Any] = {"use_cache": False, "select": ["set-not-null"]}
    _, failed = run_lint([str(path)], database_url=sized.url, **options)
    assert failed is False  # info only
    path.write_text("ALTER TABLE small_t ALTER COLUMN email SET NOT NULL;\n")
    _, failed = run_lint([str(path)], database_url=sized.url, **options)
    assert failed is True


def _facts(rows: float, heap: int) -> TableFacts:
    return TableFacts(rows, heap, heap)


def _catalog(limits: SizeLimits | None = None) -> Catalog:
    return Catalog(180000, "UTC", "me", ("public",), {}, {}, {}, limits or SizeLimits())


def test_default_limits_both_ends() -> None:
    catalog = _catalog()
    assert grade(_facts(0, 0), catalog)[0] == "info"
    assert grade(_facts(1, 8192), catalog)[0] == "warning"
    assert grade(_facts(LARGE_TABLE_ROWS - 1, 8192), catalog)[0] == "warning"
    assert grade(_facts(LARGE_TABLE_ROWS, 8192), catalog)[0] == "error"
    assert grade(_facts(10, LARGE_TABLE_BYTES - 1), catalog)[0] == "warning"
    assert grade(_facts(10, LARGE_TABLE_BYTES), catalog)[0] == "error"
    # never analysed (reltuples -1): its bytes decide
    assert grade(_facts(-1, LARGE_TABLE_BYTES - 1), catalog)[0] == "warning"
    assert grade(_facts(-1, LARGE_TABLE_BYTES), catalog)[0] == "error"
    assert "ANALYZE" in grade(_facts(-1, 8192), catalog)[1]


def test_never_analysed_table_is_not_empty(ec_db: EcDatabase) -> None:
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE fresh AS SELECT g AS id FROM generate_series(1, 10) g")
    facts = load_catalog(ec_db.url).tables["public.fresh"]
    assert facts.heap_bytes > 0
    assert grade(facts, _catalog())[0] == "warning"


def test_partitioned_table_sums_its_partitions(ec_db: EcDatabase) -> None:
    with ec_db.connect() as conn:
        conn.execute(
            "CREATE TABLE m (id int, k int) PARTITION BY RANGE (k);"
            "CREATE TABLE m1 PARTITION OF m FOR VALUES FROM (0) TO (10);"
            "CREATE TABLE m2 PARTITION OF m FOR VALUES FROM (10) TO (20);"
            "INSERT INTO m SELECT g, g % 20 FROM generate_series(1, 40) g; ANALYZE;"
        )
    catalog = load_catalog(ec_db.url)
    parent, m1, m2 = (catalog.tables[f"public.{t}"] for t in ("m", "m1", "m2"))
    assert parent.rows == m1.rows + m2.rows == 40
    assert parent.heap_bytes == m1.heap_bytes + m2.heap_bytes > 0


# --- read-only, errors, cache, CLI -----------------------------------------------------------


def test_session_is_read_only(db: EcDatabase) -> None:
    with (
        pytest.raises(CatalogError, match="read-only transaction"),
        read_only_session(db.url) as conn,
    ):
        row = conn.execute(
            "SELECT current_setting('transaction_read_only'),"
            " current_setting('default_transaction_read_only')"
        ).fetchone()
        assert row == ("on", "on")
        conn.execute("CREATE TABLE written (a int)")
    with (
        pytest.raises(CatalogError, match="read-only transaction"),
        read_only_session(db.url) as conn,
    ):
        conn.execute("UPDATE users SET age = 2")
    with db.connect() as conn:
        assert conn.execute("SELECT to_regclass('written')").fetchone() == (None,)
        assert conn.execute("SELECT count(*) FROM users WHERE age = 2").fetchone() == (0,)


def test_lint_leaves_the_database_unchanged(tmp_path: Path, db: EcDatabase) -> None:
    sql = "DROP TABLE users;\nCREATE TABLE intruder (a int);\n"
    _lint_file(tmp_path, sql, db)
    with db.connect() as conn:
        assert conn.execute("SELECT to_regclass('users') IS NOT NULL").fetchone() == (True,)
        assert conn.execute("SELECT to_regclass('intruder')").fetchone() == (None,)


def test_the_session_does_not_stay_open(db: EcDatabase) -> None:
    load_catalog(db.url)
    with db.connect() as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ec lint'"
        ).fetchone()
    assert left == (0,)


@pytest.fixture
def cli_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EC_LINT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("EC_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.sql").write_text("ALTER TABLE users ALTER COLUMN name TYPE text;\n")
    return tmp_path


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["lint", "--select", "changing-column-type,set-not-null", *args]
    )
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://ec@127.0.0.1:1/nothing", "cannot connect to"),
        ("mysql://ec@localhost/db", "not a PostgreSQL URL scheme"),
    ],
)
def test_bad_database_is_a_usage_error(cli_dir: Path, url: str, says: str) -> None:
    code, output = _cli("-d", url, "m.sql")
    assert code == 2
    assert says in output
    assert "Traceback" not in output


def test_cli_database_url_flag_and_env(
    cli_dir: Path, db: EcDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _cli("m.sql") == (0, _cli("m.sql")[1])  # info only: old type unknown
    assert UNKNOWN_OLD in _cli("--format", "json", "m.sql")[1]
    code, output = _cli("-d", db.url, "--format", "json", "m.sql")
    assert (code, json.loads(output)["findings"]) == (0, [])  # varchar -> text: safe
    (cli_dir / "m.sql").write_text("ALTER TABLE users ALTER COLUMN age TYPE bigint;\n")
    monkeypatch.setenv("EC_DATABASE_URL", db.url)
    code, output = _cli("m.sql")
    assert code == 1
    assert "changes integer to bigint" in output


def test_pyproject_database_url_is_not_used(cli_dir: Path) -> None:
    (cli_dir / "pyproject.toml").write_text(
        '[tool.expandcontract]\ndatabase_url = "postgresql://ec@127.0.0.1:1/nothing"\n'
    )
    code, output = _cli("m.sql")
    assert code == 0
    assert UNKNOWN_OLD in output


def test_no_cache_with_a_database(cli_dir: Path, db: EcDatabase) -> None:
    (cli_dir / "m.sql").write_text("ALTER TABLE empty_t ALTER COLUMN email SET NOT NULL;\n")
    assert _cli("-d", db.url, "m.sql")[0] == 0  # empty: info
    with db.connect() as conn:
        conn.execute("INSERT INTO empty_t VALUES (1, 'e'); ANALYZE empty_t")
    assert _cli("-d", db.url, "m.sql")[0] == 1  # not served from a cache
    assert not (cli_dir / "cache").exists()


def test_parallel_workers_see_the_catalog(tmp_path: Path, db: EcDatabase) -> None:
    paths = []
    for i in range(40):  # above the parallel threshold: files are linted in worker processes
        path = tmp_path / f"{i:04d}_m.sql"
        path.write_text("ALTER TABLE users ALTER COLUMN age TYPE bigint;\n")
        paths.append(str(path))
    reports, _ = run_lint(paths, use_cache=False, database_url=db.url)
    messages = [f.message for r in reports for f in r.findings if f.rule == "changing-column-type"]
    assert len(messages) == 40
    assert all("changes integer to bigint" in m for m in messages)
