"""The ec command line: conventions every command follows (options, --json, exit codes, errors)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from expandcontract import __version__
from expandcontract.cli import cli
from expandcontract.ledger import LATEST, ExclusiveRun
from expandcontract.pytest_plugin import EcDatabase


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # no stray pyproject.toml settings
    monkeypatch.delenv("EC_DATABASE_URL", raising=False)
    # Unreachable servers (127.0.0.1:1) are waited for up to retry_max_time: keep it short.
    (tmp_path / "pyproject.toml").write_text('[tool.expandcontract]\nretry_max_time = "1s"\n')

    def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


def test_version(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_init_then_status_with_options_after_the_subcommand(run, ec_db: EcDatabase) -> None:  # type: ignore[no-untyped-def]
    before = run("status", "--json", "-d", ec_db.url)
    assert before.exit_code == 0, before.output
    assert json.loads(before.output)["initialized"] is False

    first = run("init", "-d", ec_db.url)
    assert first.exit_code == 0 and "created ledger 'expandcontract'" in first.output
    again = run("init", "--json", "--database-url", ec_db.url)
    data = json.loads(again.output)
    assert data["applied"] == [] and data["version"] == LATEST

    status = json.loads(run("status", "--json", "-d", ec_db.url).output)
    assert status["initialized"] is True and status["ledger_version"] == LATEST
    assert status["migrations"] == [] and status["backfills"] == []
    text = run("status", "-d", ec_db.url)
    assert "ledger version" in text.output and "no migrations recorded" in text.output


def test_database_url_from_env_and_from_pyproject(run, ec_db: EcDatabase, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("init", "--json", env={"EC_DATABASE_URL": ec_db.url})
    assert result.exit_code == 0
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.expandcontract]\ndatabase_url = "{ec_db.url}"\nledger_schema = "from_config"\n'
    )
    result = run("init", "--json")
    assert json.loads(result.output)["ledger_schema"] == "from_config"
    # flag beats config
    result = run("status", "--json", "--ledger-schema", "expandcontract")
    assert json.loads(result.output)["initialized"] is True


def test_missing_database_is_a_usage_error_with_a_hint(run) -> None:  # type: ignore[no-untyped-def]
    result = run("status")
    assert result.exit_code == 2
    assert "error: no database to work on" in result.output
    assert "hint:" in result.output and "EC_DATABASE_URL" in result.output
    assert "Traceback" not in result.output


def test_bad_option_value_is_exit_2(run) -> None:  # type: ignore[no-untyped-def]
    result = run("status", "--lock-timeout", "soon", "-d", "postgresql://x@127.0.0.1:1/x")
    assert result.exit_code == 2 and "duration" in result.output


def test_unknown_option_is_exit_2(run) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, ["status", "--no-such-flag"])
    assert result.exit_code == 2


def test_connection_error_is_one_line_with_the_password_masked(run) -> None:  # type: ignore[no-untyped-def]
    url = "postgresql://ec:Hunter2Secret@127.0.0.1:1/app"
    for args in (("status", "-d", url), ("status", "--json", "-d", url)):
        result = run(*args)
        assert result.exit_code == 1
        assert "Hunter2Secret" not in result.output
        assert "ec:***@127.0.0.1:1/app" in result.output
        assert "Traceback" not in result.output
    data = json.loads(run("status", "--json", "-d", url).stdout)
    assert data["ok"] is False and "cannot connect" in data["error"] and data["hint"]


def test_verbose_shows_the_traceback(run) -> None:  # type: ignore[no-untyped-def]
    result = run("status", "-v", "-d", "postgresql://ec:pw12345@127.0.0.1:1/app")
    assert result.exit_code == 1 and "Traceback" in result.output
    assert "pw12345" not in result.output


def test_init_refuses_while_another_run_holds_the_database(run, ec_db: EcDatabase) -> None:  # type: ignore[no-untyped-def]
    with ExclusiveRun(ec_db.url, "expandcontract", "ec apply"):
        result = run("init", "-d", ec_db.url)
    assert result.exit_code == 1
    assert "another ec run is already working on this database" in result.output


def test_console_script_entry_point(ec_db: EcDatabase) -> None:
    exe = Path(sys.executable).parent / "ec"
    out = subprocess.run(
        [str(exe), "status", "--json", "-d", ec_db.url], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["ok"] is True


def test_demo_quick_json(run) -> None:  # type: ignore[no-untyped-def]
    result = run("demo", "--quick", "--json", "--server", "embedded")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] is True and data["server"] == "embedded"
    assert data["ddl_attempts"] > 1 and data["blocker_pids"]
    assert data["ledger"]["ledger_version"] == LATEST
    assert data["migration"]["final_columns"] == ["id", "email_address", "status", "plan"]
    # The app was never stuck behind ec for much longer than one lock_timeout.
    assert data["app_query_max_wait_ms"] < data["lock_timeout_ms"] + 400


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "foo=bar",
        "mysql://ec:Hunter2Secret@db/app",
        "postgresql://ec@[bad/app",
        "postgresql://ec@db:notaport/app",
    ],
)
def test_bad_database_url_is_a_usage_error(run, url: str) -> None:  # type: ignore[no-untyped-def]
    for args in (("status", "-d", url), ("status", "--json", "-d", url)):
        result = run(*args)
        assert result.exit_code == 2, result.output
        assert "the database URL is not a valid connection string" in result.output
        assert "internal error" not in result.output and "Traceback" not in result.output
        assert "Hunter2Secret" not in result.output
    assert json.loads(run("status", "--json", "-d", url).stdout)["hint"].startswith("use a URL")


def test_several_hosts_in_one_url_are_still_a_valid_database_url(run) -> None:  # type: ignore[no-untyped-def]
    result = run("status", "-d", "postgresql://ec@127.0.0.1:1,127.0.0.1:2/app")
    assert result.exit_code == 1 and "cannot connect" in result.output, result.output


def test_hint_keeps_square_brackets(run) -> None:  # type: ignore[no-untyped-def]
    """Rich read `[tool.expandcontract]` as markup and printed `database_url in  of`."""
    result = run("status")
    assert "set database_url in [tool.expandcontract] of pyproject.toml" in result.output


def test_names_with_brackets_are_printed_as_written(run, ec_db: EcDatabase) -> None:  # type: ignore[no-untyped-def]
    result = run("status", "-d", ec_db.url, "--ledger-schema", "led[ger]")
    assert result.exit_code == 0, result.output
    assert "ledger schema led[ger]" in result.output


@pytest.mark.parametrize(
    "url", ["postgresql://ec:pw-123@127.0.0.1:1/app", "host=127.0.0.1 port=1 user=ec dbname=app"]
)
def test_errors_show_the_users_dsn_without_ecs_session_options(run, url: str) -> None:  # type: ignore[no-untyped-def]
    Path("0001_m.yaml").write_text("operations:\n  - drop_table: {name: t}\n")  # in tmp_path
    for args in (("status", "-d", url), ("plan", "0001_m.yaml", "-d", url)):
        result = run(*args)
        assert result.exit_code != 0
        assert "expandcontract.version" not in result.output, result.output
        assert "cannot connect" in result.output, result.output
        assert "expandcontract.ec" not in result.output and "pw-123" not in result.output


def test_init_reports_the_database_as_the_user_wrote_it(run, ec_db: EcDatabase) -> None:  # type: ignore[no-untyped-def]
    from expandcontract.dsn import display_dsn

    data = json.loads(run("init", "--json", "-d", ec_db.url).stdout)
    assert data["database"] == display_dsn(ec_db.url)
    assert "options" not in data["database"]


def test_plan_prints_bracketed_table_names_verbatim(run, ec_db: EcDatabase) -> None:  # type: ignore[no-untyped-def]
    with ec_db.connect() as conn:
        conn.execute('CREATE TABLE "t[red]" (id int PRIMARY KEY)')
    Path("0001_x.yaml").write_text(
        "operations:\n  - add_column: {table: 't[red]', column: {name: x, type: int}}\n"
    )
    plan = run("plan", "0001_x.yaml", "-d", ec_db.url)
    assert plan.exit_code == 0, plan.output
    assert "add column t[red].x" in plan.output.replace("\n", " ").replace("│", " ")
