"""`ec apply / complete / rollback` show their progress on real runs: plain lines when stderr
is not a terminal, JSON lines ending with the result with --json, a live view on a terminal."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from expandcontract.cli import cli
from expandcontract.engine.backfill import table_backfill
from expandcontract.progress import TerminalView
from expandcontract.pytest_plugin import EcDatabase
from tests.backfill.conftest import fixed
from tests.engine.harness import engine, migration

ROWS = 5000
WIDEN = """
operations:
  - alter_column: {table: users, column: amount, type: bigint, up: "amount::bigint",
                   down: "amount::integer"}
  - create_index: {name: users_amount_idx, table: users, columns: [amount]}
"""


@pytest.fixture
def users(ec_db: EcDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EcDatabase:
    monkeypatch.chdir(tmp_path)
    Path("0001_widen.yaml").write_text(WIDEN)
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE users (id bigint PRIMARY KEY, amount integer)")
        conn.execute(f"INSERT INTO users SELECT g, g FROM generate_series(1, {ROWS}) g")
        conn.execute("ANALYZE users")
    return ec_db


def ec(db: EcDatabase, *args: str) -> Result:
    return CliRunner().invoke(
        cli, [*args, "-d", db.url], catch_exceptions=False, env={"EC_DATABASE_URL": None}
    )


def json_lines(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_apply_in_a_log_says_each_phase_and_step_and_how_the_backfill_ended(
    users: EcDatabase,
) -> None:
    result = ec(users, "apply", "0001_widen.yaml")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0] == "migration 0001_widen: started"
    assert lines[1].startswith("expand: started (") and "expand: done" in lines
    steps = [line for line in lines if line.startswith("  [")]
    assert steps and all(" ms" in s or " s" in s for s in steps), steps
    assert any("CONCURRENTLY" in s or "index" in s for s in steps), steps
    assert "backfill: started (users)" in lines
    started = [line for line in lines if line.startswith("backfill public.users: started")]
    assert started == [
        "backfill public.users: started (~5,000 rows, keyset on id (integer, primary key))"
    ]
    (finished,) = [line for line in lines if line.startswith("backfill public.users: done")]
    assert finished.startswith(f"backfill public.users: done, {ROWS:,} rows; this run {ROWS:,}")
    assert "rows/s" in finished and finished.endswith(", verified")
    # A line per state change: the run had several batches, but no line per batch.
    assert len(lines) <= len(steps) + 8, lines
    assert result.stdout.startswith("migration 0001_widen: phase backfill")  # the summary


def test_apply_json_is_json_lines_with_progress_snapshots_and_the_result_last(
    users: EcDatabase,
) -> None:
    result = ec(users, "apply", "0001_widen.yaml", "--json")
    assert result.exit_code == 0, result.output
    events = json_lines(result)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "migration" and kinds[-1] == "result"
    assert events[-1]["ok"] is True and events[-1]["phases"]["backfill"]["status"] == "done"
    assert {"phase", "step", "backfill", "progress"} <= set(kinds)
    assert not [e for e in events if e["event"] == "backfill" and e["data"]["event"] == "batch"]
    final = [e for e in events if e["event"] == "progress"][-1]
    assert final["rows_scanned"] == final["rows_total_estimate"] == ROWS
    assert final["batches"] >= 3 and final["table"] == "public.users"
    backfill_done = [e for e in events if e["event"] == "backfill" and e["data"]["event"] == "done"]
    assert kinds.index("progress") < events.index(backfill_done[0])

    completed = ec(users, "complete", "--json")
    assert completed.exit_code == 0, completed.output
    events = json_lines(completed)
    assert events[-1]["event"] == "result" and events[-1]["ok"] is True
    assert ("contract", "done") in [(e.get("phase"), e.get("status")) for e in events]


def test_rollback_json_and_a_failure_end_with_a_result_line(users: EcDatabase) -> None:
    assert ec(users, "apply", "0001_widen.yaml", "--phase", "expand").exit_code == 0
    rolled = ec(users, "rollback", "--json")
    assert rolled.exit_code == 0, rolled.output
    events = json_lines(rolled)
    assert events[-1]["event"] == "result" and events[-1]["ok"] is True
    assert [e["status"] for e in events if e["event"] == "migration"] == ["rolled_back"]

    failed = ec(users, "complete", "--json")  # nothing is active any more
    assert failed.exit_code == 1
    (last,) = json_lines(failed)
    assert last["event"] == "result" and last["ok"] is False
    assert "no active migration" in last["error"] and last["hint"]

    unreadable = ec(users, "apply", "missing.yaml", "--json")  # fails before any work starts
    assert unreadable.exit_code != 0
    (last,) = json_lines(unreadable)  # still one JSON line: the result
    assert last["event"] == "result" and last["ok"] is False and "missing.yaml" in last["error"]

    Path("pyproject.toml").write_text("[tool.expandcontract]\nno_such_setting = 1\n")
    misconfigured = ec(users, "apply", "0001_widen.yaml", "--json")  # fails reading settings
    assert misconfigured.exit_code == 2
    (last,) = json_lines(misconfigured)
    assert last["event"] == "result" and last["ok"] is False and "no_such_setting" in last["error"]


def test_apply_on_a_terminal_shows_lines_and_a_live_bar_within_80_columns(
    users: EcDatabase,
) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80, record=True)
    view = TerminalView(console, refresh_s=0.0)
    seen: list[list[str]] = []

    def watching(event: dict[str, Any]) -> None:
        view(event)
        frame = Console(file=io.StringIO(), width=80, record=True)
        frame.print(view.progress.get_renderable())
        seen.append(frame.export_text().splitlines())

    backfill = table_backfill(users.url, engine(users.url).settings, tuning=fixed(700))
    ec_engine = dataclasses.replace(engine(users.url), backfill=backfill, observer=watching)
    with view:
        ec_engine.apply(migration("widen", *_operations()), through="contract")
    bars = [frame[0] for frame in seen if frame and frame[0].startswith("users ")]
    assert len(bars) >= ROWS // 700, seen  # redrawn with every batch
    assert any(f"{ROWS:,}/{ROWS:,} 100%" in bar for bar in bars), bars
    assert all(len(line) <= 80 for frame in seen for line in frame)
    text = console.export_text()
    assert "backfill public.users: done, 5,000 rows; this run 5,000 rows in" in text
    assert "switch: version schema public_widen is current" in text
    assert "contract: done" in text and "migration widen: done" in text


def _operations() -> list[dict[str, Any]]:
    import yaml

    return list(yaml.safe_load(WIDEN)["operations"])


def test_switch_shown_says_which_version_is_current_in_one_line(users: EcDatabase) -> None:
    from expandcontract.cli.app import App
    from expandcontract.cli.progress_view import shown

    assert ec(users, "apply", "0001_widen.yaml").exit_code == 0
    app = App(engine(users.url).settings, json_output=False)
    said = io.StringIO()
    app.err = Console(file=said, width=80)
    switching = engine(users.url)
    with shown(app, switching):
        switching.switch()
    assert said.getvalue() == "switch: version schema public_0001_widen is current\n"
    quiet = App(engine(users.url).settings, json_output=True)
    back = engine(users.url)
    with shown(quiet, back):  # --json: the command's one JSON document stays its only output
        back.switch(back=True)
    assert back.observer is None
