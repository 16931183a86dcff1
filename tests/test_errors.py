"""Errors a user can act on, built from real PostgreSQL errors: a missing privilege names the
GRANT that fixes it (and running that GRANT does), a lost connection says to re-run."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql
from psycopg.conninfo import make_conninfo

from expandcontract.cli.app import App, common_options
from expandcontract.errors import (
    LEDGER_TABLES,
    ConnectionLost,
    PrivilegeError,
    connection_lost_error,
    privilege_error,
    quote_ident,
)
from expandcontract.pytest_plugin import EcDatabase


@pytest.fixture
def role(ec_db: EcDatabase) -> Iterator[str]:
    name = f"ec_role_{uuid.uuid4().hex[:8]}"
    with ec_db.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'pw'").format(sql.Identifier(name)))
        conn.execute("CREATE TABLE users (id int PRIMARY KEY)")
        conn.execute("CREATE SCHEMA expandcontract")
        conn.execute("CREATE TABLE expandcontract.meta (key text)")
    try:
        yield name
    finally:
        with ec_db.connect() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (name,),
            )
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def _as(db: EcDatabase, role: str) -> psycopg.Connection[Any]:
    return psycopg.connect(make_conninfo(db.url, user=role, password="pw"), autocommit=True)


# Statements a role without privileges cannot run, each standing for something ec does.
DENIED = [
    ("ledger schema", "CREATE SCHEMA ec_probe_ledger", "GRANT CREATE ON DATABASE {db}"),
    ("validation probe", "CREATE TEMP TABLE ec_probe (x int)", "GRANT TEMPORARY ON DATABASE {db}"),
    ("read the ledger", "SELECT 1 FROM expandcontract.meta",
     "GRANT USAGE ON SCHEMA expandcontract"),
    ("trigger function", "CREATE FUNCTION public.ec_probe() RETURNS int LANGUAGE sql AS 'SELECT 1'",
     "GRANT USAGE, CREATE ON SCHEMA public"),
    ("backfill", "UPDATE users SET id = id", "GRANT SELECT, UPDATE ON users"),
]  # fmt: skip


@pytest.mark.parametrize(("label", "statement", "grant"), DENIED, ids=[d[0] for d in DENIED])
def test_the_hinted_grant_is_the_fix(
    ec_db: EcDatabase, role: str, label: str, statement: str, grant: str
) -> None:
    if label == "validation probe":
        with ec_db.connect() as conn:
            conn.execute(sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC").format(
                sql.Identifier(ec_db.name)))  # fmt: skip
    with _as(ec_db, role) as conn, pytest.raises(psycopg.Error) as info:
        conn.execute(statement)
    error = privilege_error(info.value, role=role)
    assert isinstance(error, PrivilegeError)
    assert error.message.startswith(f"role {role!r} lacks a privilege ec needs: ")
    hint = str(error.hint)
    expected = f"{grant.format(db=ec_db.name)} TO {role}"
    assert expected in _statements(hint, role), hint
    assert 'docs/safety.md, "Privileges ec needs"' in hint
    with ec_db.connect() as conn:
        for fix in _statements(hint, role):
            conn.execute(fix)  # exactly what the hint says
    with _as(ec_db, role) as conn:
        conn.execute(statement)


def _statements(hint: str, role: str) -> list[str]:
    return re.findall(rf"(?:GRANT|ALTER TABLE) [^;()]+? TO {role}\b", hint)


def test_ledger_schema_hint_grants_reads_and_writes_on_its_tables(
    ec_db: EcDatabase, role: str
) -> None:
    with ec_db.connect() as conn:
        conn.execute(f"GRANT USAGE ON SCHEMA expandcontract TO {role}")
    with _as(ec_db, role) as conn, pytest.raises(psycopg.Error) as info:
        conn.execute("INSERT INTO expandcontract.meta VALUES ('x')")
    hint = str(getattr(privilege_error(info.value, role=role), "hint", ""))
    grant = f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA expandcontract TO {role}"
    assert grant in hint, hint
    with ec_db.connect() as conn:
        conn.execute(grant)
    with _as(ec_db, role) as conn:
        conn.execute("INSERT INTO expandcontract.meta VALUES ('x')")


def test_ownership_hint_names_the_handover(ec_db: EcDatabase, role: str) -> None:
    with _as(ec_db, role) as conn, pytest.raises(psycopg.Error) as info:
        conn.execute("ALTER TABLE users ADD COLUMN x int")
    hint = str(getattr(privilege_error(info.value, role=role), "hint", ""))
    assert "only the owner of table users" in hint
    handover = f"ALTER TABLE users OWNER TO {role}"
    assert handover in hint
    with ec_db.connect() as conn:
        conn.execute(handover)
    with _as(ec_db, role) as conn:
        conn.execute("ALTER TABLE users ADD COLUMN x int")


def test_a_permission_error_is_found_behind_the_error_that_wraps_it(
    ec_db: EcDatabase, role: str
) -> None:
    from expandcontract.errors import StepFailed

    with _as(ec_db, role) as conn, pytest.raises(psycopg.Error) as info:
        conn.execute("CREATE SCHEMA nope")
    try:
        raise StepFailed("step 'x' failed") from info.value
    except StepFailed as wrapped:
        assert privilege_error(wrapped) is not None
    assert privilege_error(ValueError("permission denied")) is None


def test_ledger_tables_are_the_tables_ec_init_creates(ec_server: Any, tmp_path: Path) -> None:
    from expandcontract.ledger import Ledger
    from expandcontract.runner import SafeRunner

    name = f"ec_ledger_{uuid.uuid4().hex[:8]}"
    url = ec_server.create_database(name)
    try:
        with SafeRunner(url, sink=None) as runner:
            Ledger(runner, "expandcontract").ensure()
            rows = runner.conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'expandcontract'"
            ).fetchall()
    finally:
        ec_server.drop_database(name)
    assert {r[0] for r in rows} == LEDGER_TABLES


def test_quote_ident() -> None:
    assert quote_ident("app") == "app"
    assert quote_ident("App") == '"App"'
    assert quote_ident('we"ird') == '"we""ird"'


# -- lost connections -------------------------------------------------------------------------


def _terminated(ec_db: EcDatabase) -> psycopg.Error:
    with ec_db.connect() as victim, ec_db.connect() as admin:
        pid = victim.info.backend_pid
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(psycopg.Error) as info:
            victim.execute("SELECT 1")
    return info.value


def test_a_terminated_session_is_a_lost_connection(ec_db: EcDatabase) -> None:
    error = connection_lost_error(_terminated(ec_db))
    assert isinstance(error, ConnectionLost)
    assert error.message.startswith("lost the connection to the database: ")
    assert "run the same command again" in str(error.hint)


def test_other_database_errors_are_not_lost_connections(ec_conn: psycopg.Connection[Any]) -> None:
    ec_conn.execute("SET statement_timeout = '10ms'")
    with pytest.raises(psycopg.Error) as canceled:
        ec_conn.execute("SELECT pg_sleep(1)")
    ec_conn.execute("RESET statement_timeout")
    with pytest.raises(psycopg.Error) as syntax:
        ec_conn.execute("SELEC 1")
    assert connection_lost_error(canceled.value) is None
    assert connection_lost_error(syntax.value) is None


def _boundary_command(ec_db: EcDatabase) -> click.Command:
    """A command with ec's own error boundary whose connection dies under it."""

    @click.command()
    @common_options
    def dies(app: App) -> None:
        raise _terminated(ec_db)

    return dies


def test_the_cli_reports_a_lost_connection_not_an_internal_error(ec_db: EcDatabase) -> None:
    command = _boundary_command(ec_db)
    for args in ([], ["--json"]):
        result = CliRunner().invoke(command, args, catch_exceptions=False)
        assert result.exit_code == 1, result.output
        assert "lost the connection to the database" in result.output
        assert "internal error" not in result.output and "Traceback" not in result.output
        assert re.search(r"run the same command again", result.output)
