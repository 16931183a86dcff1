"""`ec plan / apply / switch / complete / rollback / status` through the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from expandcontract.cli import cli
from expandcontract.pytest_plugin import EcDatabase

MIGRATION = """
operations:
  - rename_column: {table: users, from: email, to: email_address}
  - alter_column:
      {table: users, column: nickname, nullable: false, up: "coalesce(nickname, 'anon')"}
  - create_index: {name: users_nick_idx, table: users, columns: [nickname]}
"""


@pytest.fixture
def ec(seeded: EcDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "0002_profile.yaml").write_text(MIGRATION)

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, [*args, "-d", seeded.url], catch_exceptions=False)

    return run


def test_plan_formats(ec: Any) -> None:
    data = json.loads(ec("plan", "0002_profile.yaml", "--json").output)
    assert data["ok"] is True
    assert data["version_schema"] == "public_0002_profile" and data["old_schema"] == "public"
    assert set(data["phases"]) == {"expand", "contract", "rollback"}
    step = data["phases"]["expand"][0]
    assert set(step) >= {"key", "description", "statements", "lock", "duration", "transactional"}
    job = data["backfills"][0]
    assert len(data["backfills"]) == 1
    assert {k: job[k] for k in ("schema", "table", "estimated_rows", "key")} == {
        "schema": "public", "table": "users", "estimated_rows": 300, "key": ["id"]
    }  # fmt: skip
    assert job["rows_source"] == "statistics"
    text = ec("plan", "0002_profile.yaml").output
    assert "expand" in text and "contract" in text and "SHARE UPDATE EXCLUSIVE" in text
    sql = ec("plan", "0002_profile.yaml", "--format", "sql").output
    assert "CREATE INDEX CONCURRENTLY" in sql and "SET lock_timeout = '500ms';" in sql
    # Planning changes nothing: not even the ledger exists afterwards.
    status = json.loads(ec("status", "--json").output)
    assert status["initialized"] is False


def test_full_cycle_through_the_cli(ec: Any) -> None:
    applied = ec("apply", "0002_profile.yaml", "--json")
    assert applied.exit_code == 0, applied.output
    data = json.loads(applied.stdout.splitlines()[-1])  # JSON lines: the result is last
    assert data["event"] == "result" and data["ok"] is True
    assert data["phases"]["backfill"]["status"] == "done"
    status = json.loads(ec("status", "--json").output)
    assert status["migration"] == "0002_profile" and status["phase"] == "backfill"
    assert status["new_schema"] == "public_0002_profile" and status["old_schema"] == "public"
    assert status["backfills"][0]["verified"] is True
    assert json.loads(ec("switch", "--json").output)["current_schema"] == "public_0002_profile"
    assert json.loads(ec("switch", "--back", "--json").output)["current_schema"] == "public"
    done = ec("complete", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(ec("status", "--json").output)["migration"] is None


def test_rollback_through_the_cli(ec: Any) -> None:
    assert ec("apply", "0002_profile.yaml", "--phase", "expand").exit_code == 0
    result = ec("rollback")
    assert result.exit_code == 0, result.output
    assert json.loads(ec("status", "--json").output)["migration"] is None


def test_errors_are_one_line_with_exit_codes(ec: Any, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("operations:\n  - drop_table: {name: nope}\n")
    bad = ec("apply", "bad.yaml")
    assert bad.exit_code == 2
    assert "table 'nope' does not exist" in bad.output and "Traceback" not in bad.output
    assert ec("complete").exit_code == 1  # nothing active
    assert ec("apply", "0002_profile.yaml").exit_code == 0
    (tmp_path / "0003_other.yaml").write_text("operations:\n  - drop_table: {name: old_stuff}\n")
    second = ec("apply", "0003_other.yaml")
    assert second.exit_code == 1
    assert "migration '0002_profile' is still active" in second.output
    missing = ec("apply", "nope.yaml")
    assert missing.exit_code == 2 and "cannot read migration file" in missing.output
