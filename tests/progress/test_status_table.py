"""`ec backfill status` fits 80 columns: no cell is cut short with "…", long names fold."""

from __future__ import annotations

import io
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from rich.console import Console

from expandcontract.backfill import backfill_status, run_backfill
from expandcontract.cli import cli
from expandcontract.cli.backfill_cmd import status_table
from expandcontract.pytest_plugin import EcDatabase
from tests.backfill.conftest import fixed, make_table

TABLE = "customer_orders_archive_2024"
LONG = f"migration-12:public.{TABLE}"


def test_backfill_status_fits_80_columns_without_cutting_a_cell(
    ec_db: EcDatabase, ec_conn: psycopg.Connection[Any]
) -> None:
    make_table(ec_conn, 1500, name=TABLE)
    run_backfill(ec_db.url, table=TABLE, assignments={"b": "a * 2"}, name=LONG,
                 settings=fixed(500))  # fmt: skip
    make_table(ec_conn, 2000, name="items")

    def stop_at_third(event: dict[str, Any]) -> None:
        if event["event"] == "batch" and event["rows_scanned"] and event["cursor"] == ["1500"]:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_backfill(ec_db.url, table="items", assignments={"b": "a + 1"}, name="items:plus",
                     settings=fixed(500), on_progress=stop_at_third)  # fmt: skip

    rows = backfill_status(ec_db.url)
    console = Console(file=io.StringIO(), width=80, record=True)
    console.print(status_table(rows))
    text = console.export_text()
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), text
    assert "…" not in text, text
    # Every value is there in full (a folded name reads back when its pieces are joined).
    assert LONG in "".join(line.split()[0] for line in lines[2:] if line.split()), text
    assert "1,500/1,500" in text and "1,500/2,000" in text and "75" in text, text
    assert "done" in text and "interrupted" in text

    shown = CliRunner().invoke(
        cli, ["backfill", "status", "-d", ec_db.url], env={"COLUMNS": "80", "EC_DATABASE_URL": None}
    )
    assert shown.exit_code == 0, shown.output
    table_part = shown.stdout.split("\nitems:plus", 1)[0]
    assert all(len(line) <= 80 for line in table_part.splitlines()), shown.stdout
    assert "…" not in shown.stdout
