"""Edges an independent review found in the failure paths, each a test that failed before its
fix: errors `up` raises besides bad data, expressions that cannot run where they are spliced,
validation that must not evaluate anything, a CHECK in the new version's names, contract that
must stay undoable until it really starts, automatic rollback of a current version, one warning
per transaction, and case folding of column names."""

from __future__ import annotations

import psycopg
import pytest

from expandcontract.engine.api import MigrationError
from expandcontract.engine.backfill import PendingRows
from expandcontract.operations import MigrationInvalid
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import Session, engine, migration, schema_shape

TO_INT = {"alter_column": {"table": "codes", "column": "code", "type": "integer",
                           "up": "code::integer", "down": "code::text"}}  # fmt: skip


@pytest.fixture
def codes(ec_db: EcDatabase) -> EcDatabase:
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE codes (id int PRIMARY KEY, code text, name text)")
        conn.execute("INSERT INTO codes SELECT g, g::text, 'n' || g FROM generate_series(1, 50) g")
    return ec_db


@pytest.mark.parametrize(
    ("setup", "up", "bad_insert"),
    [
        (  # a domain CHECK (class 23)
            ["CREATE DOMAIN posint AS int CHECK (VALUE > 0)"],
            "code::integer::posint",
            "INSERT INTO codes VALUES (1001, '-1', 'x')",
        ),
        (  # a subquery returning two rows (class 21)
            ["CREATE TABLE lookup (k text, v int)", "INSERT INTO lookup VALUES ('a', 1), ('a', 2)"],
            "coalesce((SELECT v FROM lookup WHERE k = code), code::integer)",
            "INSERT INTO codes VALUES (1001, 'a', 'x')",
        ),
        (  # a function that raises (P0001)
            [
                "CREATE FUNCTION strict_int(t text) RETURNS int LANGUAGE plpgsql AS"
                " 'BEGIN IF t = ''no'' THEN RAISE EXCEPTION ''refused''; END IF;"
                " RETURN t::int; END'"
            ],
            "strict_int(code)",
            "INSERT INTO codes VALUES (1001, 'no', 'x')",
        ),
    ],
    ids=["domain-check", "cardinality", "raise"],
)
def test_errors_up_raises_besides_bad_data_never_fail_old_writes(
    codes: EcDatabase, setup: list[str], up: str, bad_insert: str
) -> None:
    with codes.connect() as conn:
        for statement in setup:
            conn.execute(statement)
    m = migration("m", {"alter_column": {"table": "codes", "column": "code", "type": "integer",
                                         "up": up, "down": "code::text"}})  # fmt: skip
    ec = engine(codes.url)
    ec.apply(m)
    Session(codes.url, None).run(bad_insert)  # goes through: the row stays pending
    with pytest.raises(PendingRows, match=r"\(id\)=\(1001\)"):
        ec.complete()


def test_an_error_the_backfill_did_not_expect_is_explained_and_rolled_back(
    codes: EcDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database error that escapes the backfill (injected here) is an ec error that says
    what to do, and --on-failure rollback acts on it."""
    import expandcontract.engine.backfill as engine_backfill

    with codes.connect() as conn:
        before = schema_shape(conn)

    def broken(*args: object, **kwargs: object) -> object:
        raise psycopg.errors.InternalError("something ec did not expect")

    monkeypatch.setattr(engine_backfill, "run_backfill", broken)
    ec = engine(codes.url)
    with pytest.raises(MigrationError, match="rolled back automatically") as info:
        ec.apply(migration("to_int", TO_INT), on_failure="rollback")
    assert "something ec did not expect" in info.value.message
    with codes.connect() as conn:
        assert schema_shape(conn) == before


def test_expressions_that_cannot_run_in_the_trigger_are_refused(codes: EcDatabase) -> None:
    ec = engine(codes.url)
    qualified = {"add_column": {"table": "codes", "column": {"name": "c2", "type": "text"},
                                "up": "upper(codes.code)"}}  # fmt: skip
    with pytest.raises(MigrationInvalid, match="missing FROM-clause entry"):
        ec.plan(migration("q", qualified))
    system = {"add_column": {"table": "codes", "column": {"name": "c2", "type": "text"},
                             "up": "xmin::text"}}  # fmt: skip
    with pytest.raises(MigrationInvalid, match="xmin"):
        ec.plan(migration("s", system))
    with pytest.raises(MigrationInvalid, match="parameter"):
        migration("p", {"add_column": {"table": "codes", "column": {"name": "c2", "type": "int"},
                                       "up": "coalesce($1, 0)"}})  # fmt: skip


def test_checking_a_default_evaluates_nothing(codes: EcDatabase) -> None:
    with codes.connect() as conn:
        conn.execute("CREATE SEQUENCE s")
    m = migration("d", {"add_column": {"table": "codes", "column": {
        "name": "n", "type": "bigint", "default": "nextval('s')"}}})  # fmt: skip
    engine(codes.url).plan(m)
    with codes.connect() as conn:
        assert conn.execute("SELECT last_value, is_called FROM s").fetchone() == (1, False)


def test_a_check_in_the_new_versions_names_follows_a_twinned_column(codes: EcDatabase) -> None:
    m = migration(
        "m",
        {"alter_column": {"table": "codes", "column": "code", "type": "bigint",
                          "up": "code::bigint", "down": "code::text"}},
        {"add_column": {"table": "codes", "column": {"name": "cap", "type": "bigint",
                                                     "check": "cap <= code"}}},
    )  # fmt: skip
    ec = engine(codes.url)
    ec.apply(m)
    with pytest.raises(psycopg.errors.CheckViolation):
        Session(codes.url, "public_m").run("UPDATE codes SET cap = 100 WHERE id = 5")
    ec.complete()
    with codes.connect() as conn:
        checks = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'codes'::regclass AND contype = 'c'"
        ).fetchall()
    assert checks == [("CHECK ((cap <= code))",)]


def test_a_contract_that_could_not_start_can_still_be_rolled_back(codes: EcDatabase) -> None:
    """A row made pending just before the trigger turns strict: the strict step converts it in
    its own transaction, fails, and leaves nothing done - rollback is still possible."""
    ec = engine(codes.url)
    ec.apply(migration("to_int", TO_INT))

    def write_in_the_window(phase: str, step: object) -> None:
        if phase == "contract" and str(getattr(step, "key", "")).startswith("strict:"):
            Session(codes.url, None).run("INSERT INTO codes VALUES (999, 'oops', 'x')")

    ec.before_step = write_in_the_window
    with pytest.raises(PendingRows, match=r"\(id\)=\(999\)"):
        ec.complete()
    ec.before_step = None
    Session(codes.url, None).run("INSERT INTO codes VALUES (1000, 'still', 'tolerant')")
    ec.rollback()
    assert Session(codes.url, None).rows("SELECT code FROM codes WHERE id = 999") == [("oops",)]


def test_after_the_strict_step_no_row_can_become_pending(codes: EcDatabase) -> None:
    """Even a write that bypasses triggers (logical replication apply, pg_restore) is refused
    instead of leaving a row whose new-version value the swap would lose."""
    ec = engine(codes.url)
    ec.apply(migration("to_int", TO_INT))
    seen: list[str] = []

    def stop_after_strict(phase: str, step: object) -> None:
        key = str(getattr(step, "key", ""))
        if phase == "contract" and seen and seen[-1].startswith("strict:"):
            raise KeyboardInterrupt
        seen.append(key)

    ec.before_step = stop_after_strict
    with pytest.raises(KeyboardInterrupt):
        ec.complete()
    with codes.connect() as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("SET session_replication_role = replica")
        conn.execute("INSERT INTO codes (id, code, name) VALUES (77, '77', 'r')")
    ec.before_step = None
    ec.complete()


def test_automatic_rollback_never_drops_a_current_version(codes: EcDatabase) -> None:
    Session(codes.url, None).run("UPDATE codes SET code = 'x' WHERE id = 2")
    ec = engine(codes.url)
    m = migration("to_int", TO_INT)
    ec.apply(m, through="expand")
    ec.switch()
    with pytest.raises(MigrationError, match="not rolled back automatically"):
        ec.apply(m, on_failure="rollback")
    assert ec.status()["migration"] == "to_int"


def test_plan_of_a_completed_migration_says_so(codes: EcDatabase) -> None:
    ec = engine(codes.url)
    m = migration("to_int", TO_INT)
    ec.apply(m)
    ec.complete()
    with pytest.raises(MigrationError, match="completed already") as info:
        ec.plan(m)
    assert "rollback" not in str(info.value)


def test_one_warning_per_transaction(codes: EcDatabase) -> None:
    engine(codes.url).apply(migration("to_int", TO_INT))
    notices: list[str] = []
    with psycopg.connect(codes.url, autocommit=True) as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        conn.execute("UPDATE codes SET code = 'bad' || id")
    assert len(notices) == 1 and "stay pending" in notices[0]


def test_unquoted_names_fold_to_lower_case(codes: EcDatabase) -> None:
    m = migration("fold", {"add_column": {"table": "codes", "column": {"name": "tag",
                                                                       "type": "text"},
                                          "up": "upper(CODE)"}})  # fmt: skip
    engine(codes.url).apply(m)
    Session(codes.url, None).run("UPDATE codes SET code = 'abc' WHERE id = 1")
    assert Session(codes.url, "public_fold").rows("SELECT tag FROM codes WHERE id = 1") == [
        ("ABC",)
    ]


def test_a_default_that_needs_parentheses_is_spliced_with_them(ec_db: EcDatabase) -> None:
    m = migration("t", {"create_table": {"name": "flags", "columns": [
        {"name": "id", "type": "int", "primary_key": True},
        {"name": "f", "type": "boolean", "default": "true AND false"}]}})  # fmt: skip
    engine(ec_db.url).apply(m)
    Session(ec_db.url, "public_t").run("INSERT INTO flags (id) VALUES (1)")
    assert Session(ec_db.url, "public_t").rows("SELECT f FROM flags") == [(False,)]
