"""Names from the database are shown verbatim: rich markup in a table, column or index name
(`orders[/]`, `amount[bold]`) neither crashes a command nor loses its brackets."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from expandcontract.cli import cli
from expandcontract.progress import TerminalView
from expandcontract.pytest_plugin import EcDatabase

TABLE = "orders[/]"
COLUMN = "amount[bold]"
INDEX = "orders_amount[bold]_idx"
MIGRATION = f"""
operations:
  - alter_column: {{table: "{TABLE}", column: "{COLUMN}", type: bigint,
                   up: '"{COLUMN}"::bigint', down: '"{COLUMN}"::integer'}}
  - create_index: {{name: "{INDEX}", table: "{TABLE}", columns: ["{COLUMN}"]}}
"""
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def orders(ec_db: EcDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EcDatabase:
    monkeypatch.chdir(tmp_path)
    Path("0001_widen.yaml").write_text(MIGRATION)
    with ec_db.connect() as conn:
        conn.execute(f'CREATE TABLE "{TABLE}" (id bigint PRIMARY KEY, "{COLUMN}" integer)')
        conn.execute(f'INSERT INTO "{TABLE}" SELECT g, g FROM generate_series(1, 300) g')
    return ec_db


def ec(db: EcDatabase, *args: str, terminal: bool = False) -> Result:
    # TTY_COMPATIBLE=1: rich treats stderr as a terminal, so `ec apply` uses its live view.
    env = {"EC_DATABASE_URL": None, "COLUMNS": "80", "TTY_COMPATIBLE": "1" if terminal else "0"}
    return CliRunner().invoke(cli, [*args, "-d", db.url], env=env)


def plain(text: str) -> str:
    return ANSI.sub("", text)


def test_apply_on_a_terminal_shows_bracketed_names_verbatim(orders: EcDatabase) -> None:
    applied = ec(orders, "apply", "0001_widen.yaml", "--phase", "backfill", terminal=True)
    assert applied.exit_code == 0, applied.output
    shown = plain(applied.stderr)
    assert "\x1b[" in applied.stderr  # the live view ran (it draws with escape codes)
    assert "Traceback" not in shown and "observer failed" not in shown, shown
    assert f"backfill public.{TABLE}: done, 300 rows" in shown, shown
    assert f"add twin column {TABLE}._ec_new_{COLUMN} (bigint) for {COLUMN}" in shown, shown
    assert f"build index {INDEX} CONCURRENTLY" in shown, shown


def test_status_and_backfill_status_show_bracketed_names_verbatim(orders: EcDatabase) -> None:
    applied = ec(orders, "apply", "0001_widen.yaml", "--phase", "backfill")
    assert applied.exit_code == 0, applied.output

    status = ec(orders, "status")
    assert status.exit_code == 0, status.output
    assert f" public.{TABLE} " in status.stdout, status.stdout

    backfills = ec(orders, "backfill", "status")
    assert backfills.exit_code == 0, backfills.output
    assert f" public.{TABLE} " in backfills.stdout, backfills.stdout
    name = f"migration-1:public.{TABLE}"  # folded over two lines at 80 columns
    assert name in "".join(
        line.split()[0] for line in backfills.stdout.splitlines() if line.strip()
    )

    paused = ec(orders, "backfill", "pause", name)
    assert paused.exit_code == 0, paused.output
    assert f"backfill '{name}' paused" in paused.stdout, paused.stdout


def test_the_terminal_view_shows_markup_in_steps_and_probe_output_verbatim() -> None:
    out = io.StringIO()
    view = TerminalView(Console(file=out, force_terminal=True, width=80, record=True), refresh_s=0)
    step = {"event": "step", "ts": 0.0, "phase": "expand", "number": 1, "of": 1,
            "description": "index on arr[i]", "lock": "[red]SHARE[/]"}  # fmt: skip
    with view:
        view({**step, "status": "started"})
        live = Console(file=io.StringIO(), width=80, record=True)
        live.print(view.progress.get_renderable())  # the running step's line
        view({"event": "health", "ts": 0.0, "stage": "watch", "healthy": False,
              "target": "./probe[/]", "detail": "exit 1: [bold]down[/bold]"})  # fmt: skip
    running = live.export_text()
    assert "[1/1] index on arr[i]" in running and "[red]SHARE[/]" in running, running
    text = plain(view.console.export_text())
    assert "health: probe ./probe[/] failing (exit 1: [bold]down[/bold])" in text, text
