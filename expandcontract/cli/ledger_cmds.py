"""``ec init`` and ``ec status``."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from expandcontract.cli.app import App, common_options
from expandcontract.dsn import display_dsn
from expandcontract.ledger import ExclusiveRun, Ledger
from expandcontract.runner import RetryPolicy, SafeRunner


def open_ledger(app: App) -> tuple[str, SafeRunner, Ledger]:
    url = app.settings.require_database_url()
    runner = SafeRunner(url, policy=RetryPolicy.from_settings(app.settings))
    return url, runner, Ledger(runner, app.settings.ledger_schema)


@click.command()
@common_options
def init(app: App) -> None:
    """Create (or upgrade) ec's ledger in the target database. Safe to run again."""
    url, runner, ledger = open_ledger(app)
    with runner, ExclusiveRun(runner.conninfo, ledger.schema, "ec init"):
        before = ledger.version()
        applied = ledger.ensure()
        after = ledger.version()
    data = {
        "ok": True,
        "ledger_schema": ledger.schema,
        "previous_version": before,
        "version": after,
        "applied": applied,
        "database": display_dsn(url),
    }

    def render(console: Console) -> None:
        if not applied:
            console.print(f"ledger {ledger.schema!r} is up to date (version {after})", markup=False)
        elif before is None:
            console.print(f"created ledger {ledger.schema!r} (version {after})", markup=False)
        else:
            console.print(
                f"upgraded ledger {ledger.schema!r} from version {before} to {after}", markup=False
            )

    app.emit(data, render)


@click.command()
@common_options
def status(app: App) -> None:
    """The active migration (phase, old and new version schemas), the ledger and backfills."""
    from expandcontract.engine.api import Engine

    url = app.settings.require_database_url()
    data: dict[str, Any] = {"ok": True, **Engine(url, app.settings, sink=None).status()}
    app.emit(data, lambda console: render_status(console, data))


def render_status(console: Console, data: dict[str, Any]) -> None:
    console.print(
        f"database [bold]{escape(str(data['database']))}[/] "
        f"(PostgreSQL {escape(str(data['server_version']))}), "
        f"ledger schema [bold]{escape(str(data['ledger_schema']))}[/]",
        markup=True,
    )
    if not data["initialized"]:
        console.print("no ledger yet: run `ec init` (ec commands that write create it too)")
        return
    console.print(f"ledger version {data['ledger_version']} (latest {data['ledger_latest']})")
    if data.get("migration"):
        console.print(
            f"active migration [bold]{escape(str(data['migration']))}[/] in phase "
            f"{data['phase']}: old version reads {escape(str(data['old_schema']))}, new version "
            f"{escape(str(data['new_schema']))}; current is {escape(str(data['current_schema']))}",
            markup=True,
        )
    if not data["migrations"]:
        console.print("no migrations recorded")
    else:
        table = Table("migration", "schema", "phase", "active", "updated")
        for m in data["migrations"]:
            table.add_row(
                *(
                    escape(str(m[k]))
                    for k in ("name", "base_schema", "phase", "active", "updated_at")
                )
            )
        console.print(table)
    if data["backfills"]:
        table = Table("backfill", "table", "status", "rows", "batches", "verified")
        for b in data["backfills"]:
            table.add_row(*(escape(str(b[k])) for k in (
                "name", "table", "status", "rows_done", "batches", "verified")))  # fmt: skip
        console.print(table)
    _render_attention(console, data)


def _render_attention(console: Console, data: dict[str, Any]) -> None:
    """What needs the user: rows `up` cannot convert, a phase that failed or was interrupted."""
    for table, count in (data.get("pending_rows") or {}).items():
        if count:
            console.print(
                f"{count} row(s) of {table} are pending: `up` could not convert them yet "
                "(the old version's writes go through); fix them, then `ec apply` again",
                markup=False,
            )
    active = next((m for m in data["migrations"] if m.get("active")), None)
    for phase, info in (active or {}).get("phases", {}).items():
        if info.get("status") in ("failed", "interrupted"):
            detail = info.get("error") or ""
            console.print(f"{phase} {info['status']}: {detail}".rstrip(": "), markup=False)
            if info.get("hint"):
                console.print(f"  hint: {info['hint']}", markup=False)
