"""`ec verify` through click, and the pytest helper."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from expandcontract.cli.verify_cmd import verify
from expandcontract.servers.base import PostgresServer
from expandcontract.verify.pytest_helper import assert_compatible
from tests.verify.apps import shop_v1
from tests.verify.conftest import APPS

OLD = "tests.verify.apps.shop_v1:metadata"


@pytest.fixture
def run(ec_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(Path(__file__).parents[2])
    monkeypatch.setenv("EC_DATABASE_URL", ec_server.url)  # --server url: throwaway dbs there

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(verify, list(args), catch_exceptions=False)

    return invoke


def test_compatible_exits_0_with_json(run: Any) -> None:
    result = run(str(APPS / "status_only.yaml"), "--old", OLD, "--new", OLD, "--server", "url",
                 "--rows", "30", "--seed", "3", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["compatible"] is True and data["server"] == "url" and data["seed"] == 3
    assert {c["kind"] for c in data["checks"]} == {"static", "dynamic", "invariants"}


def test_incompatible_exits_1_and_names_statement_version_phase(run: Any) -> None:
    result = run(str(APPS / "sql_not_null.yaml"), "--old", OLD, "--new", OLD, "--server", "url",
                 "--rows", "30")  # fmt: skip
    assert result.exit_code == 1
    assert "NOT compatible" in result.output
    assert "after expand / old / static: NOT NULL without default: users.tenant_id" in result.output
    assert "statement: INSERT INTO users" in result.output


def test_usage_errors_exit_2(run: Any) -> None:
    result = run(str(APPS / "status_only.yaml"), "--old", "nowhere:Base", "--new", OLD)
    assert result.exit_code == 2
    assert "cannot import module 'nowhere'" in result.output
    result = run("missing.yaml", "--old", OLD, "--new", OLD, "--json")
    assert result.exit_code == 2
    assert json.loads(result.output)["ok"] is False
    result = run(str(APPS / "status_only.yaml"), "--old", OLD, "--new", OLD, "--base-sql", "a.sql",
                 "--history", "dir")  # fmt: skip
    assert result.exit_code == 2 and "either --base-sql or --history" in result.output


def test_base_sql_builds_the_schema_before_the_migration(run: Any, tmp_path: Path) -> None:
    dump = tmp_path / "base.sql"
    dump.write_text(
        "CREATE TABLE users (id bigserial PRIMARY KEY, email varchar(200) NOT NULL UNIQUE,"
        " nickname text, amount integer, created_at timestamptz,"
        " active boolean NOT NULL DEFAULT true, ratio numeric(10,2), token uuid);\n"
        "CREATE TABLE orders (id serial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users,"
        " note varchar(50), day date, audit text NOT NULL);\n"
    )
    result = run(str(APPS / "status_only.yaml"), "--old", OLD, "--new", OLD, "--server", "url",
                 "--rows", "20", "--base-sql", str(dump))  # fmt: skip
    # the dump has a NOT NULL column the old app never writes: caught before any migration
    assert result.exit_code == 1
    assert (
        "before expand / old / static: NOT NULL without default: orders.audit requires a value"
        in result.output
    )


def test_pytest_helper_passes_and_fails_with_the_report(ec_server: PostgresServer) -> None:
    report = assert_compatible(
        APPS / "status_only.yaml",
        old=shop_v1.metadata,
        new=shop_v1.metadata,
        server=ec_server,
        rows=20,
        rounds=1,
    )
    assert report.compatible
    with pytest.raises(pytest.fail.Exception) as info:
        assert_compatible(APPS / "check_amount.yaml", old=shop_v1.metadata,
                          new=shop_v1.metadata, server=ec_server, rows=20, rounds=1)  # fmt: skip
    assert "ec verify check_amount: NOT compatible" in str(info.value)
    assert "users_amount_positive" in str(info.value)


def test_registered_as_ec_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    from expandcontract.cli import COMMANDS, cli

    # the line the lead adds to COMMANDS in expandcontract/cli/__init__.py
    monkeypatch.setitem(COMMANDS, "verify", ("expandcontract.cli.verify_cmd", "verify"))
    result = CliRunner().invoke(cli, ["verify", "--help"])
    assert result.exit_code == 0
    options = "--old --new --old-check --new-check --base-sql --history --server --rows --seed"
    for option in [*options.split(), "--contract-before-switch", "--json"]:
        assert option in result.output
    result = CliRunner().invoke(cli, ["verify", "m.yaml", "--old", "x"])
    assert result.exit_code == 2 and "Missing option '--new'" in result.output
