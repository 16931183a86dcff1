"""``ec lint`` end to end through click: exit codes, JSON schema, formats, --list-rules."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from expandcontract.cli import cli
from expandcontract.lint.registry import all_rules

BAD = "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();\n"
CLEAN = "SET lock_timeout = '1s';\nCREATE TABLE IF NOT EXISTS t (id bigint);\n"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EC_LINT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["lint", *args])
    return result.exit_code, result.output


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_exit_codes(tmp_path: Path) -> None:
    assert run(write(tmp_path, "clean.sql", CLEAN))[0] == 0
    assert run(write(tmp_path, "bad.sql", BAD))[0] == 1
    assert run(str(tmp_path / "missing.sql"))[0] == 2
    assert run(write(tmp_path, "x.sql", CLEAN), "--select", "no-such-rule")[0] == 2
    assert run()[0] == 2


def test_fail_on_error_ignores_warnings(tmp_path: Path) -> None:
    path = write(tmp_path, "w.sql", "SET lock_timeout='1s'; SET statement_timeout='1s';\n"
                 "ALTER TABLE users RENAME COLUMN a TO b;\n")  # fmt: skip
    assert run(path)[0] == 1
    assert run(path, "--fail-on", "error")[0] == 0


def test_json_schema(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.sql", BAD + "FROBNICATE;\nCREATE TABLE broken (id int;\n")
    code, out = run(path, "--format", "json")
    data = json.loads(out)
    assert code == 1 and set(data) == {"findings", "files"}
    for f in data["findings"]:
        assert set(f) == {"path", "line", "column", "rule", "severity", "message", "suggestion"}
        assert f["line"] >= 1 and f["column"] >= 1
        assert f["severity"] in ("error", "warning", "info")
    (file_entry,) = data["files"]
    assert file_entry["path"] == path and file_entry["statements"] == 3
    assert file_entry["status"] == "unparsed" and "line 3" in file_entry["reason"]
    assert run(path, "--json")[1] == out


def test_select_and_ignore(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.sql", BAD)
    data = json.loads(run(path, "--format", "json", "--select", "add-column-rewrite-default")[1])
    assert {f["rule"] for f in data["findings"]} == {"add-column-rewrite-default"}
    data = json.loads(run(path, "--format", "json", "--ignore",
                          "add-column-rewrite-default,require-lock-timeout")[1])  # fmt: skip
    assert not {"add-column-rewrite-default", "require-lock-timeout"} & {
        f["rule"] for f in data["findings"]
    }


def test_pg_version_flag(tmp_path: Path) -> None:
    path = write(tmp_path, "d.sql", "ALTER TABLE users ADD COLUMN s text DEFAULT 'x';\n")
    rules = lambda *a: {f["rule"] for f in json.loads(run(path, "--json", *a)[1])["findings"]}  # noqa: E731
    assert "add-column-rewrite-default" in rules("--pg-version", "10")
    assert "add-column-rewrite-default" not in rules("--pg-version", "15")


def test_config_in_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.expandcontract.lint]\nignore = ["require-lock-timeout"]\npg-version = 10\n'
        'fail-on = "error"\n'
    )
    path = write(tmp_path, "d.sql", "ALTER TABLE users ADD COLUMN s text DEFAULT 'x';\n")
    data = json.loads(run(path, "--json")[1])
    rules = {f["rule"] for f in data["findings"]}
    assert "require-lock-timeout" not in rules and "add-column-rewrite-default" in rules


def test_bad_config_is_usage_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.expandcontract.lint]\nfail_on = 'x'\n")
    assert run(write(tmp_path, "a.sql", CLEAN))[0] == 2


def test_list_rules_json() -> None:
    code, out = run("--list-rules", "--format", "json")
    data = json.loads(out)
    assert code == 0 and len(data) == len(all_rules())
    for rule in data:
        assert set(rule) == {"id", "severity", "summary", "equivalents"}
    by_id = {r["id"]: r for r in data}
    assert by_id["require-concurrent-index-creation"]["equivalents"]["squawk"] == [
        "require-concurrent-index-creation"
    ]
    assert (
        "add_index"
        in by_id["require-concurrent-index-creation"]["equivalents"]["strong_migrations"]
    )


def test_list_rules_text() -> None:
    code, out = run("--list-rules")
    assert code == 0 and "require-lock-timeout" in out


def test_text_output_has_positions_and_fix(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.sql", "\n\n" + BAD)
    _, out = run(path)
    assert f"{path}:3:1: error [add-column-rewrite-default]" in out
    assert "fix: " in out


def test_directory_lints_down_files_as_the_rollback_phase(tmp_path: Path) -> None:
    write(tmp_path, "m/001_a.up.sql", CLEAN)
    write(tmp_path, "m/001_a.down.sql", "DROP TABLE t;\n")
    data = json.loads(run(str(tmp_path / "m"), "--json")[1])
    assert sorted(Path(f["path"]).name for f in data["files"]) == ["001_a.down.sql", "001_a.up.sql"]
    down = {f["rule"] for f in data["findings"] if f["path"].endswith("001_a.down.sql")}
    assert "require-lock-timeout" in down  # linted …
    assert "ban-drop-table" not in down  # … as a rollback: it drops what the up created
    write(tmp_path, "plain/x.sql", "DROP TABLE t;\n")
    plain = json.loads(run(str(tmp_path / "plain"), "--json")[1])
    assert "ban-drop-table" in {f["rule"] for f in plain["findings"]}


def test_stdin() -> None:
    result = CliRunner().invoke(cli, ["lint", "-", "--json"], input="DROP TABLE users;\n")
    data = json.loads(result.output)
    assert result.exit_code == 1
    assert data["files"] == [{"path": "<stdin>", "statements": 1, "status": "ok"}]
    assert {f["rule"] for f in data["findings"]} >= {"ban-drop-table"}


def test_lint_takes_the_common_options_of_every_command() -> None:
    from expandcontract.cli.ledger_cmds import status
    from expandcontract.cli.lint_cmd import lint

    shared = {"database_url", "schema", "ledger_schema", "lock_timeout", "statement_timeout",
              "verbose", "json_output"}  # fmt: skip

    def common(command: click.Command) -> list[dict[str, object]]:
        return [p.to_info_dict() for p in command.params if p.name in shared]

    assert common(lint) == common(status) and len(common(lint)) == len(shared)


def test_errors_keep_the_common_format(tmp_path: Path) -> None:
    code, out = run(str(tmp_path / "missing.sql"))
    assert code == 2 and "error:" in out and "missing.sql" in out
    code, out = run(str(tmp_path / "missing.sql"), "--json")
    assert code == 2 and json.loads(out)["ok"] is False
    code, out = run(write(tmp_path, "x.sql", CLEAN), "--lock-timeout", "soon")
    assert code == 2 and "lock_timeout" in out  # the shared settings are still validated


def test_verbose_logging_is_configured(tmp_path: Path) -> None:
    import logging

    assert run(write(tmp_path, "x.sql", CLEAN), "-v")[0] == 0
    assert logging.getLogger("expandcontract").level == logging.INFO
