"""What each command needs from the database role it runs as (docs/safety.md, "Privileges ec
needs"), checked against a real role: with one privilege missing the command fails with one
sentence that names it and a hint holding the GRANT; running that GRANT makes it work."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from psycopg import sql
from psycopg.conninfo import make_conninfo

from expandcontract.cli import cli
from expandcontract.pytest_plugin import EcDatabase

ADD_PLAIN = "operations:\n  - add_column: {table: users, column: {name: nick, type: text}}\n"
ADD_WITH_UP = (
    "operations:\n"
    "  - add_column: {table: users, column: {name: score, type: int}, up: 'length(email)'}\n"
)
ADD_WITH_DEFAULT = (
    "operations:\n"
    "  - add_column: {table: users, column: {name: tier, type: text, default: \"'free'\"}}\n"
)
CREATE_TABLE = (
    "operations:\n"
    "  - create_table: {name: tags, columns: [{name: id, type: int, primary_key: true}]}\n"
)


class Role:
    """A login role with no privileges beyond PUBLIC's, and the superuser to grant them."""

    def __init__(self, db: EcDatabase) -> None:
        self.db = db
        self.name = f"ec_role_{uuid.uuid4().hex[:8]}"
        self.url = make_conninfo(db.url, user=self.name, password="pw-for-tests")

    def grant(self, statement: str) -> None:
        with self.db.connect() as conn:
            conn.execute(statement)  # test setup text, written here

    def ec(self, *args: str) -> Result:
        return _ec(*args, "-d", self.url)


def _ec(*args: str) -> Result:
    return CliRunner().invoke(
        cli, list(args), catch_exceptions=False, env={"EC_DATABASE_URL": None}
    )


@pytest.fixture
def role(ec_db: EcDatabase, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Role]:
    monkeypatch.chdir(tmp_path)  # no pyproject.toml settings
    r = Role(ec_db)
    with ec_db.connect() as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'pw-for-tests'").format(sql.Identifier(r.name))
        )
        conn.execute("CREATE TABLE users (id bigint PRIMARY KEY, email text)")
        conn.execute("INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 50) g")
    try:
        yield r
    finally:
        with ec_db.connect() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (r.name,),
            )
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(r.name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(r.name)))


def _write(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.write_text(text)
    return str(path)


def _refused(result: Result, denied: str) -> str:
    """The command failed on a missing privilege, said so in one sentence, and gave a hint."""
    out = result.output
    assert result.exit_code == 1, out
    assert denied in out, out
    assert "internal error" not in out and "Traceback" not in out, out
    assert "hint:" in out and "Privileges ec needs" in out, out
    return out


def _grants_in(out: str, role: Role) -> list[str]:
    grants = re.findall(rf"GRANT [A-Z ,]+ ON [A-Z ]*?\S+ TO {role.name}\b", out)
    assert grants, out
    return grants


def _apply_hint(out: str, role: Role) -> None:
    for grant in _grants_in(out, role):
        role.grant(grant)


def _ledger_exists(db: EcDatabase) -> bool:
    with db.connect() as conn:
        row = conn.execute("SELECT to_regclass('expandcontract.meta') IS NOT NULL").fetchone()
    return bool(row and row[0])


def test_status_needs_connect_then_read_access_to_the_ledger(
    role: Role, ec_db: EcDatabase, tmp_path: Path
) -> None:
    fresh = role.ec("status", "--json")
    assert fresh.exit_code == 0, fresh.output  # PUBLIC's CONNECT is enough before a ledger
    assert _ec("init", "-d", ec_db.url).exit_code == 0  # the owner creates it

    out = _refused(role.ec("status"), "permission denied for schema expandcontract")
    assert f"GRANT USAGE ON SCHEMA expandcontract TO {role.name}" in out
    assert "SELECT is enough for `ec status`" in out
    role.grant(f"GRANT USAGE ON SCHEMA expandcontract TO {role.name}")
    out = _refused(role.ec("status"), "permission denied for table")
    role.grant(f"GRANT SELECT ON ALL TABLES IN SCHEMA expandcontract TO {role.name}")

    result = role.ec("status", "--json")
    assert result.exit_code == 0, result.output
    assert '"initialized": true' in result.output
    backfills = role.ec("backfill", "status", "--json")
    assert backfills.exit_code == 0, backfills.output


def test_init_needs_create_on_the_database(role: Role, ec_db: EcDatabase, tmp_path: Path) -> None:
    out = _refused(role.ec("init"), f"permission denied for database {ec_db.name}")
    assert f"GRANT CREATE ON DATABASE {ec_db.name} TO {role.name}" in out
    assert not _ledger_exists(ec_db)
    _apply_hint(out, role)
    result = role.ec("init")
    assert result.exit_code == 0, result.output


def test_backfill_creates_a_missing_ledger_so_it_needs_create_on_the_database(
    role: Role, ec_db: EcDatabase, tmp_path: Path
) -> None:
    role.grant(f"GRANT SELECT, UPDATE ON users TO {role.name}")
    args = ("backfill", "run", "-t", "users", "--set", "email = upper(email)", "--name", "b")
    out = _refused(role.ec(*args), "permission denied for database")
    _apply_hint(out, role)
    result = role.ec(*args)
    assert result.exit_code == 0, result.output


def test_backfill_needs_select_and_update_on_the_table_and_ledger_writes(
    role: Role, ec_db: EcDatabase, tmp_path: Path
) -> None:
    assert _ec("init", "-d", ec_db.url).exit_code == 0
    args = ("backfill", "run", "-t", "users", "--set", "email = upper(email)", "--name", "b")
    role.grant(f"GRANT SELECT ON users TO {role.name}")
    without_update = role.ec(*args)
    assert without_update.exit_code != 0
    assert "permission denied for table users" in without_update.output
    role.grant(f"GRANT UPDATE ON users TO {role.name}")

    out = _refused(role.ec(*args), "permission denied for schema expandcontract")
    _apply_hint(out, role)  # USAGE on the ledger schema and read/write on its tables
    result = role.ec(*args)
    assert result.exit_code == 0, result.output
    with ec_db.connect() as conn:
        assert conn.execute(
            "SELECT count(*) FROM users WHERE email <> upper(email)"
        ).fetchone() == (0,)
    status = role.ec("backfill", "status", "b")
    assert status.exit_code == 0, status.output


def test_migrations_need_the_table_owner_and_create_on_schema_and_database(
    role: Role, ec_db: EcDatabase, tmp_path: Path
) -> None:
    assert _ec("init", "-d", ec_db.url).exit_code == 0  # a ledger another role created
    role.grant(f"GRANT CREATE ON DATABASE {ec_db.name} TO {role.name}")
    plain = _write(tmp_path, "0001_nick.yaml", ADD_PLAIN)
    out = _refused(role.ec("apply", plain), "permission denied for schema expandcontract")
    _apply_hint(out, role)  # USAGE on the ledger schema, reads and writes on its tables
    out = _refused(role.ec("apply", plain), "must be owner of table users")
    assert "only the owner of table users" in out
    role.grant(f"ALTER TABLE users OWNER TO {role.name}")
    resumed = role.ec("apply", plain)
    assert resumed.exit_code == 0, resumed.output
    completed = role.ec("complete")
    assert completed.exit_code == 0, completed.output

    # Dual writes run through trigger functions ec creates in the base schema.
    with_up = _write(tmp_path, "0002_score.yaml", ADD_WITH_UP)
    out = _refused(role.ec("apply", with_up), "permission denied for schema public")
    assert f"GRANT USAGE, CREATE ON SCHEMA public TO {role.name}" in out
    _apply_hint(out, role)
    resumed = role.ec("apply", with_up)
    assert resumed.exit_code == 0, resumed.output
    rolled_back = role.ec("rollback")
    assert rolled_back.exit_code == 0, rolled_back.output


def test_create_table_needs_create_on_the_schema(
    role: Role, ec_db: EcDatabase, tmp_path: Path
) -> None:
    role.grant(f"GRANT CREATE ON DATABASE {ec_db.name} TO {role.name}")
    create = _write(tmp_path, "0001_tags.yaml", CREATE_TABLE)
    out = _refused(role.ec("apply", create), "permission denied for schema public")
    _apply_hint(out, role)
    resumed = role.ec("apply", create)
    assert resumed.exit_code == 0, resumed.output
    completed = role.ec("complete")
    assert completed.exit_code == 0, completed.output


def test_checking_a_default_needs_temp_on_the_database(
    role: Role, ec_db: EcDatabase, tmp_path: Path
) -> None:
    """`ec plan` needs what `ec status` needs, plus TEMPORARY to check a default."""
    assert _ec("init", "-d", ec_db.url).exit_code == 0
    role.grant(f"GRANT USAGE ON SCHEMA expandcontract TO {role.name}")
    role.grant(f"GRANT SELECT ON ALL TABLES IN SCHEMA expandcontract TO {role.name}")
    role.grant(f"REVOKE TEMPORARY ON DATABASE {ec_db.name} FROM PUBLIC")
    with_default = _write(tmp_path, "0001_tier.yaml", ADD_WITH_DEFAULT)
    out = _refused(role.ec("plan", with_default), "permission denied to create temporary tables")
    assert "GRANT TEMPORARY ON DATABASE" in out, out
    role.grant(f"GRANT TEMPORARY ON DATABASE {ec_db.name} TO {role.name}")
    planned = role.ec("plan", with_default)
    assert planned.exit_code == 0, planned.output


def test_switch_search_path_database_needs_the_database_owner(
    role: Role, ec_db: EcDatabase, tmp_path: Path
) -> None:
    role.grant(f"GRANT CREATE ON DATABASE {ec_db.name} TO {role.name}")
    role.grant(f"ALTER TABLE users OWNER TO {role.name}")
    plain = _write(tmp_path, "0001_nick.yaml", ADD_PLAIN)
    assert role.ec("apply", plain).exit_code == 0
    out = _refused(
        role.ec("switch", "--search-path", "database"),
        f"must be owner of database {ec_db.name}",
    )
    assert "--search-path role:NAME" in out
    own = role.ec("switch", "--search-path", f"role:{role.name}")
    assert own.exit_code == 0, own.output
    with psycopg.connect(role.url, autocommit=True) as conn:
        row: Any = conn.execute("SHOW search_path").fetchone()
    assert row[0].startswith("public_0001_nick"), row
