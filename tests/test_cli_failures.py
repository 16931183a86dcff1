"""A command that fails prints one error and a hint to act on: no statement-event dump unless
-v, the same error and hint as one JSON document with --json."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from expandcontract.cli import cli
from expandcontract.pytest_plugin import EcDatabase

UNIQUE_ON_DUPLICATES = (
    "operations:\n  - create_index: {name: t_v_key, table: t, columns: [v], unique: true}\n"
)
NOT_NULL = (
    "operations:\n  - alter_column: {table: t, column: v, nullable: false, up: 'coalesce(v, 0)'}\n"
)

Run = Callable[..., Result]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ec_db: EcDatabase) -> Run:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.expandcontract]\nretry_max_attempts = 1\nretry_max_time = "1s"\n'
    )
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
        conn.execute("INSERT INTO t SELECT g, g % 3 FROM generate_series(1, 30) g")

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(
            cli, [*args, "-d", ec_db.url], catch_exceptions=False, env={"EC_DATABASE_URL": None}
        )

    return invoke


def _write(name: str, text: str) -> str:
    Path(name).write_text(text)
    return name


def _one_error_and_a_hint(result: Result) -> str:
    assert result.exit_code == 1, result.output
    err = result.stderr
    # Progress lines (one per phase and step) come first, then one error and its hint.
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and err.split(errors[0], 1)[1].startswith("\nhint: "), err
    assert '"outcome"' not in err and '"event": "statement"' not in err, err  # no event dump
    assert "Traceback" not in err and "internal error" not in err, err
    assert result.stdout == "", result.stdout
    return err


def _json_error(result: Result) -> dict[str, Any]:
    assert result.exit_code == 1, result.output
    try:
        data: dict[str, Any] = json.loads(result.stdout)  # one JSON document, nothing else
    except ValueError:  # JSON lines (ec apply, complete, rollback): the result line is last
        data = [json.loads(line) for line in result.stdout.splitlines()][-1]
        assert data["event"] == "result", data
    assert data["ok"] is False and data["error"] and data["hint"], data
    assert '"outcome"' not in result.stderr, result.stderr
    return data


def test_failed_apply_says_what_failed_and_what_to_run_next(run: Run) -> None:
    path = _write("0001_unique.yaml", UNIQUE_ON_DUPLICATES)
    err = _one_error_and_a_hint(run("apply", path))
    assert "is duplicated" in err  # what happened, with the offending key
    assert "ec apply" in err.split("hint:", 1)[1] and "ec rollback" in err  # what to run next
    data = _json_error(run("apply", path, "--json"))
    assert "is duplicated" in data["error"] and "ec apply" in data["hint"]


def test_verbose_failure_adds_every_statement_event_and_the_traceback(run: Run) -> None:
    path = _write("0001_unique.yaml", UNIQUE_ON_DUPLICATES)
    result = run("apply", path, "-v")
    assert result.exit_code == 1
    events = [
        json.loads(line[line.index("{") :])
        for line in result.stderr.splitlines()
        if '"event": "statement"' in line
    ]
    assert any(e["outcome"] == "failed" and e["sqlstate"] == "23505" for e in events), events
    assert any(e["outcome"] == "ok" for e in events)
    assert "Traceback" in result.stderr


def test_failed_complete_renders_error_and_hint(run: Run) -> None:
    path = _write("0001_not_null.yaml", NOT_NULL)
    assert run("apply", path, "--phase", "expand").exit_code == 0
    err = _one_error_and_a_hint(run("complete"))
    assert "backfill" in err and "ec apply" in err.split("hint:", 1)[1]
    assert _json_error(run("complete", "--json"))["hint"]


def test_failed_rollback_renders_error_and_hint(run: Run, ec_db: EcDatabase) -> None:
    path = _write("0001_not_null.yaml", NOT_NULL)
    assert run("apply", path).exit_code == 0
    with ec_db.connect(autocommit=False) as blocker:
        blocker.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        err = _one_error_and_a_hint(run("rollback", "--lock-timeout", "50ms"))
        assert "could not take its lock" in err
        data = _json_error(run("rollback", "--lock-timeout", "50ms", "--json"))
        assert "pg_cancel_backend" in data["hint"]
    assert run("rollback").exit_code == 0  # the hint's advice: once the lock is free, re-run


def test_failed_switch_renders_error_and_hint(run: Run) -> None:
    path = _write("0001_not_null.yaml", NOT_NULL)
    assert run("apply", path).exit_code == 0
    err = _one_error_and_a_hint(run("switch", "--search-path", "role:no_such_role_x"))
    assert "no_such_role_x" in err and "ec switch" in err.split("hint:", 1)[1]
    assert _json_error(run("switch", "--search-path", "role:no_such_role_x", "--json"))["hint"]


def test_no_migration_active_is_one_error_and_a_hint(run: Run) -> None:
    for command in ("complete", "rollback", "switch"):
        err = _one_error_and_a_hint(run(command))
        assert "no active migration" in err and "ec apply" in err


def test_a_retry_is_one_warning_line_not_an_event_dump(run: Run, ec_db: EcDatabase) -> None:
    path = _write("0001_not_null.yaml", NOT_NULL)
    assert run("apply", path).exit_code == 0
    Path("pyproject.toml").write_text(
        '[tool.expandcontract]\nretry_max_attempts = 2\nretry_max_time = "5s"\n'
    )
    with ec_db.connect(autocommit=False) as blocker:
        blocker.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        pid = blocker.info.backend_pid
        result = run("rollback", "--lock-timeout", "400ms")  # long enough to see the blocker
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    warnings = [line for line in lines if line.startswith("warning:")]
    assert len(warnings) == 1, result.stderr
    assert (
        "attempt 1 did not succeed (canceling statement due to lock timeout); retrying"
        in (warnings[0])
    )
    assert f"blocked by pid {pid}" in warnings[0]
    assert [line for line in lines if line.startswith("error:")], result.stderr
    assert '"outcome"' not in result.stderr
