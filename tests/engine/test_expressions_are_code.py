"""User expressions are code: every `up`, `down`, `default`, `check`, `where` and `type` must be
exactly one expression (or type). A hostile one is refused before anything runs - validation
included - with a clear message, through the file loader, the Python API and the CLI."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from psycopg import sql

from expandcontract.cli import cli
from expandcontract.engine.migration import Migration, from_spec
from expandcontract.errors import ECError, StepFailed
from expandcontract.operations import AddColumn, AlterColumn, ColumnSpec, MigrationInvalid
from expandcontract.operations.expressions import parse_expression, parse_only
from expandcontract.pytest_plugin import EcDatabase
from expandcontract.runner import SafeRunner, Step
from tests.engine.harness import Session, engine, migration

# The issue's payload: closes the expression, runs two statements, reopens a parenthesis.
ESCAPE = "1)::bigint FROM t; DELETE FROM victim; CREATE TEMP TABLE IF NOT EXISTS z AS SELECT (1"
PAYLOADS = [
    ESCAPE,
    "1; DELETE FROM victim",
    "(SELECT 1); DELETE FROM victim",
    "1 -- the rest of the generated line is gone",
    "1 /* comment */",
    "1) + (2",
    "v)",
    "(v",
    "SELECT 1",
    "DELETE FROM victim",
    "",
]
FIELDS: list[tuple[str, Any]] = [
    ("alter_column.up", lambda x: {"alter_column": {"table": "t", "column": "v",
                                                   "type": "bigint", "up": x,
                                                   "down": "v::integer"}}),
    ("alter_column.down", lambda x: {"alter_column": {"table": "t", "column": "v",
                                                     "type": "bigint", "up": "v::bigint",
                                                     "down": x}}),
    ("alter_column.default", lambda x: {"alter_column": {"table": "t", "column": "v",
                                                        "default": x}}),
    ("add_column.up", lambda x: {"add_column": {"table": "t", "up": x,
                                               "column": {"name": "w", "type": "int"}}}),
    ("add_column.default", lambda x: {"add_column": {"table": "t", "column": {
        "name": "w", "type": "int", "default": x}}}),
    ("add_column.check", lambda x: {"add_column": {"table": "t", "column": {
        "name": "w", "type": "int", "check": x}}}),
    ("drop_column.down", lambda x: {"drop_column": {"table": "t", "column": "v", "down": x}}),
    ("create_index.where", lambda x: {"create_index": {"name": "i", "table": "t",
                                                      "columns": ["v"], "where": x}}),
    ("create_table.default", lambda x: {"create_table": {"name": "n", "columns": [
        {"name": "a", "type": "int", "default": x}]}}),
    ("create_table.check", lambda x: {"create_table": {"name": "n", "columns": [
        {"name": "a", "type": "int", "check": x}]}}),
]  # fmt: skip
TYPES = [
    "bigint; DELETE FROM victim",
    "int -- x",
    "int) ; SELECT (1",
    "'text'",
    "int + 1",
    "int CHECK (false)",
    "bigint DEFAULT 1",
    "int NOT NULL",
    "int GENERATED ALWAYS AS (id) STORED",
]


@pytest.fixture
def victim(ec_db: EcDatabase) -> EcDatabase:
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
        conn.execute("INSERT INTO t SELECT g, g FROM generate_series(1, 100) g")
        conn.execute("CREATE TABLE victim (id int)")
        conn.execute("INSERT INTO victim SELECT generate_series(1, 1000)")
    return ec_db


def _untouched(db: EcDatabase) -> None:
    with db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM victim").fetchone() == (1000,)
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}
    assert "expandcontract" not in schemas, "a refused migration must not create the ledger"
    assert not any(s.startswith("public_") for s in schemas)


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize(("field", "make"), FIELDS, ids=[f for f, _ in FIELDS])
def test_every_expression_field_refuses_more_than_one_expression(
    field: str, make: Any, payload: str
) -> None:
    with pytest.raises(MigrationInvalid) as info:
        from_spec({"operations": [make(payload)]}, default_name="m")
    assert info.value.message  # a sentence, not a traceback
    assert "operation 1" in info.value.message


@pytest.mark.parametrize("payload", TYPES)
def test_types_are_type_names_only(payload: str) -> None:
    for op in (
        {"add_column": {"table": "t", "column": {"name": "w", "type": payload}}},
        {"alter_column": {"table": "t", "column": "v", "type": payload, "up": "v"}},
        {"create_table": {"name": "n", "columns": [{"name": "a", "type": payload}]}},
    ):
        with pytest.raises(MigrationInvalid, match="type"):
            from_spec({"operations": [op]}, default_name="m")


def test_valid_expressions_and_types_still_pass() -> None:
    for text in [
        "v::bigint",
        "coalesce(nickname, 'anon')",
        "(SELECT max(id) FROM t)",
        "regexp_replace(p, '\\D', '', 'g')",
        "CASE WHEN v > 0 THEN 'a' ELSE 'b' END",
        "$$a;b$$",
        "'semi;colon'",
        'lower("Weird;Name")',
    ]:
        parse_expression(text)
    from_spec(
        {"operations": [{"add_column": {"table": "t", "column": {
            "name": "w", "type": "timestamp with time zone", "default": "now()"}}},
            {"alter_column": {"table": "t", "column": "v", "type": "character varying(20)[]",
                              "up": "ARRAY[v::text]", "down": "v[1]::integer"}}]},
        default_name="ok",
    )  # fmt: skip


def test_the_python_api_is_checked_too(victim: EcDatabase) -> None:
    """Operations built in Python skip the file parser; validation must not run them."""
    hostile = AlterColumn("t", "v", type="bigint", up=ESCAPE, down="v::integer")
    m = Migration("py", [hostile])
    ec = engine(victim.url)
    with pytest.raises(MigrationInvalid, match=r"operation 1 \(alter_column\): up .* bracket"):
        ec.plan(m)
    with pytest.raises(MigrationInvalid):
        ec.apply(m)
    column = dataclasses.replace(ColumnSpec("w", "int"), default="1; DELETE FROM victim")
    with pytest.raises(MigrationInvalid):
        ec.apply(Migration("py2", [AddColumn("t", column)]))
    _untouched(victim)


def test_the_issue_reproduction_through_the_cli(victim: EcDatabase, tmp_path: Path) -> None:
    path = tmp_path / "0002_hostile.yaml"
    path.write_text(
        "operations:\n"
        '  - alter_column: {table: t, column: v, type: bigint, down: "v::integer",\n'
        f'                   up: "{ESCAPE}"}}\n'
    )
    runner = CliRunner()
    for command in ("plan", "apply"):
        result = runner.invoke(cli, [command, str(path), "-d", victim.url])
        assert result.exit_code == 2, result.output
        assert "operation 1 (alter_column): up" in result.output
        assert "closes a bracket it did not open" in result.output
        assert "Traceback" not in result.output
    _untouched(victim)


def test_postgres_parse_check_never_executes(victim: EcDatabase) -> None:
    """The PostgreSQL check is a protocol-level Parse: one statement at most, nothing run,
    under both settings of standard_conforming_strings."""
    with victim.connect() as conn:
        assert parse_only(conn, sql.SQL("SELECT 1; DELETE FROM victim")) is not None
        # One statement with standard strings, two without: refused.
        split = sql.SQL("SELECT '\\' || '; DELETE FROM victim; SELECT 1 --'")
        assert "standard_conforming_strings" in (parse_only(conn, split) or "")
        # Analysed, not executed: a volatile call in a valid statement does not run.
        conn.execute("CREATE SEQUENCE s")
        assert parse_only(conn, sql.SQL("SELECT nextval('s') FROM victim")) is None
        assert conn.execute("SELECT last_value, is_called FROM s").fetchone() == (1, False)
        assert "does not exist" in (parse_only(conn, sql.SQL("SELECT nosuch")) or "")
    _untouched(victim)


def test_the_runner_sends_one_statement_at_a_time(victim: EcDatabase) -> None:
    with SafeRunner(victim.url, sink=None) as runner:
        with pytest.raises(StepFailed, match="multiple commands"):
            runner.run(Step.of("two statements", sql.SQL("SELECT 1; DELETE FROM victim")))
        _untouched(victim)
        # Only the raw `sql` escape hatch may hold several statements.
        runner.run(Step.of("raw", sql.SQL("SELECT 1; DELETE FROM victim"), multi_statement=True))
    with victim.connect() as conn:
        assert conn.execute("SELECT count(*) FROM victim").fetchone() == (0,)


def test_backslashes_in_expressions_keep_their_meaning(victim: EcDatabase) -> None:
    m = migration(
        "digits",
        {"add_column": {"table": "t", "column": {"name": "d", "type": "text"},
                        "up": "regexp_replace('a1b2' || v::text, '\\D', '', 'g')"}},
    )  # fmt: skip
    engine(victim.url).apply(m)
    assert Session(victim.url, "public_digits").rows("SELECT d FROM t WHERE id = 7") == [("127",)]


def test_a_refused_migration_runs_nothing_on_a_fresh_database(victim: EcDatabase) -> None:
    """Validation first: no ledger, no statement, for a migration that will not run."""
    events: list[Any] = []
    ec = engine(victim.url)
    ec.sink = events.append
    with pytest.raises(MigrationInvalid, match="does not exist"):
        ec.apply(migration("bad", {"add_column": {"table": "nosuch", "column": {
            "name": "w", "type": "int"}}}))  # fmt: skip
    assert events == []
    _untouched(victim)
    with pytest.raises(MigrationInvalid, match="unknown type"):
        ec.apply(migration("bad2", {"add_column": {"table": "t", "column": {
            "name": "w", "type": "nosuchtype"}}}))  # fmt: skip
    assert events == []
    _untouched(victim)


def test_plan_of_the_active_migration_shows_its_stored_plan(victim: EcDatabase) -> None:
    m = migration("wide", {"alter_column": {"table": "t", "column": "v", "type": "bigint",
                                            "up": "v::bigint", "down": "v::integer"}})  # fmt: skip
    ec = engine(victim.url)
    first = ec.plan(m)
    ec.apply(m)
    again = ec.plan(m)
    assert "already active" in again.warnings[0]
    assert [s.key for s in again.phases["contract"]] == [s.key for s in first.phases["contract"]]
    other = migration("other", {"add_column": {"table": "t", "column": {
        "name": "w", "type": "int"}}})  # fmt: skip
    with pytest.raises(Exception, match="still active") as info:
        ec.plan(other)
    assert "rollback" not in str(info.value)


def test_a_string_ending_in_a_backslash_must_be_an_escape_string(victim: EcDatabase) -> None:
    """A trigger body is re-read by the session that runs it, possibly with
    standard_conforming_strings off, where 'a\\' does not end: refused, E'' works."""
    ec = engine(victim.url)
    plain = {"add_column": {"table": "t", "column": {"name": "p", "type": "text"},
                            "up": "'a\\' || v::text"}}  # fmt: skip
    with pytest.raises(MigrationInvalid, match="standard_conforming_strings"):
        ec.plan(migration("bs", plain))
    escaped = {"add_column": {"table": "t", "column": {"name": "p", "type": "text"},
                              "up": "E'a\\\\' || v::text"}}  # fmt: skip
    ec.apply(migration("bs", escaped))
    assert Session(victim.url, "public_bs").rows("SELECT p FROM t WHERE id = 3") == [("a\\3",)]


def test_commands_that_need_a_migration_never_create_the_ledger(victim: EcDatabase) -> None:
    ec = engine(victim.url)
    for command in (ec.complete, ec.rollback, ec.switch):
        with pytest.raises(ECError, match="no active migration"):
            command()
    _untouched(victim)
