"""``ec init`` and ``ec status``."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from typing import Any

import click
from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from expandcontract.cli.app import App, common_options
from expandcontract.dsn import display_dsn, display_text
from expandcontract.ledger import ExclusiveRun, Ledger
from expandcontract.metrics import live_status
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


# Every reading opens a connection and runs the status queries: twice a second is plenty.
MIN_WATCH_S = 0.5


def _watch_interval(
    ctx: click.Context, param: click.Parameter, value: float | None
) -> float | None:
    if value is not None and not (MIN_WATCH_S <= value < math.inf):
        raise click.BadParameter(
            f"at least {MIN_WATCH_S:g} seconds between readings (each opens a database "
            f"connection), not {value:g}"
        )
    return value


@click.command()
@click.option(
    "--watch",
    "watch_s",
    type=float,
    callback=_watch_interval,
    is_flag=False,
    flag_value=2.0,
    default=None,
    metavar="[SECONDS]",
    help=f"Refresh every SECONDS (default 2, at least {MIN_WATCH_S:g}) until Ctrl-C or the "
    "active migration finishes.",
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=None,
    help="With --watch: stop after this many readings.",
)
@common_options
def status(app: App, watch_s: float | None, count: int | None) -> None:
    """The active migration (phase, steps, old and new version schemas), backfills with rows,
    rate and ETA, throttling, and the sessions blocking ec. --watch: a live view."""
    from expandcontract.engine.api import Engine

    if count is not None and watch_s is None:
        raise click.UsageError("--count needs --watch")
    url = app.settings.require_database_url()
    engine = Engine(url, app.settings, sink=None)
    if watch_s is None:
        data: dict[str, Any] = {"ok": True, **engine.status()}
        app.emit(data, lambda console: render_status(console, data))
        return
    readings = live_status.watch(lambda: {"ok": True, **engine.status()}, interval_s=watch_s,
                                 count=count)  # fmt: skip
    try:
        if app.json:  # one JSON document per line and reading
            for reading in readings:
                click.echo(display_text(json.dumps(reading, default=str)))
        else:
            show_watch(app.console, readings, watch_s)
    except KeyboardInterrupt:
        return  # Ctrl-C is how a watch ends: nothing was interrupted


def show_watch(console: Console, readings: Iterable[dict[str, Any]], watch_s: float) -> None:
    """A live view on a terminal; on a log or a pipe, a new block only when something changed."""
    if console.is_terminal:
        with Live(console=console, auto_refresh=False, transient=False) as live:
            for reading in readings:
                live.update(Group(*status_view(reading), _watching(watch_s)), refresh=True)
        return
    last = None
    for reading in readings:
        if live_status.signature(reading) != last:
            last = live_status.signature(reading)
            console.print(f"-- {time.strftime('%H:%M:%S')}", markup=False)
            render_status(console, reading)


def _watching(seconds: float) -> Text:
    return Text(f"refreshing every {seconds:g}s; Ctrl-C to stop", style="dim")


def render_status(console: Console, data: dict[str, Any]) -> None:
    for part in status_view(data):
        console.print(part)


def status_view(data: dict[str, Any]) -> list[RenderableType]:
    """What `ec status` shows, as renderables that fit 80 columns (long names wrap)."""
    out: list[RenderableType] = [
        _line(f"database {data['database']} (PostgreSQL {data['server_version']}), "
              f"ledger schema {data['ledger_schema']}")
    ]  # fmt: skip
    if not data["initialized"]:
        out.append(_line("no ledger yet: run `ec init` (ec commands that write create it too)"))
        out += _blockers(data)
        return out
    out.append(_line(f"ledger version {data['ledger_version']} (latest {data['ledger_latest']})"))
    active = next((m for m in data["migrations"] if m.get("active")), None)
    if data.get("migration"):
        out.append(_line(
            f"active migration {data['migration']} in phase {data['phase']}: old version reads "
            f"{data['old_schema']}, new version {data['new_schema']}; current is "
            f"{data['current_schema']}"
        ))  # fmt: skip
    if active is not None:
        out.append(_phases(active))
    if not data["migrations"]:
        out.append(_line("no migrations recorded"))
    else:
        table = _table("migration", "schema", "phase", "active", "updated")
        for m in data["migrations"]:
            _add_row(table, m["name"], m["base_schema"], m["phase"],
                     "yes" if m["active"] else "", _when(m["updated_at"]))  # fmt: skip
        out.append(table)
    if data["backfills"]:
        out.append(_backfills(data["backfills"]))
    out += _blockers(data)
    out += _attention(data, active)
    return out


def _line(text: str) -> Text:
    return Text(text)  # never markup: names may hold [brackets]


def _add_row(table: Table, *cells: object) -> None:
    """Cells as plain text: a name like `orders[/]` is not rich markup."""
    table.add_row(*(Text(str(cell)) for cell in cells))


def _table(*columns: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _when(iso: str) -> str:
    return iso[:19].replace("T", " ")  # seconds are enough; the zone is the server's


def _phases(migration: dict[str, Any]) -> Table:
    """Each phase of the active migration: status, steps done of planned, the next step."""
    table = _table("phase", "status", "steps", "next step")
    steps = migration.get("steps") or {}
    for phase in ("expand", "backfill", "switch", "contract", "rollback"):
        info = migration["phases"].get(phase)
        planned = steps.get(phase)
        if info is None and (planned is None or phase in ("rollback", "switch")):
            continue
        count = f"{planned['done']}/{planned['of']}" if planned else ""
        status = info["status"] if info else "pending"
        stopped_or_running = status in ("running", "failed", "interrupted")
        upcoming = planned.get("next") if planned and stopped_or_running else None
        _add_row(table, phase, status, count, upcoming or "")
    return table


def _backfills(backfills: list[dict[str, Any]]) -> Table:
    table = _table("table", "status", "rows", "%", "rows/s", "ETA", "throttle")
    for b in backfills:
        scanned = int(b.get("rows_scanned") or b["rows_done"] or 0)
        estimate = b.get("rows_estimate")
        rows = f"{scanned:,}/{int(estimate):,}" if estimate else f"{scanned:,}"
        percent = f"{min(100.0, 100.0 * scanned / estimate):.0f}" if estimate else ""
        if b["status"] == "done":
            percent = "100"
        rate = b.get("rows_per_second")
        _add_row(
            table, b["table"], b["status"] + (" (verified)" if b.get("verified") else ""), rows,
            percent, "" if rate is None else f"{rate:,.0f}", _eta(b.get("eta_s")),
            b.get("throttle_reason") or "",
        )  # fmt: skip
    return table


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _blockers(data: dict[str, Any]) -> list[RenderableType]:
    out: list[RenderableType] = []
    for b in data.get("blockers") or ():
        age = f" for {b['xact_age_s']:g}s" if b.get("xact_age_s") is not None else ""
        app = f", application {b['application']}" if b.get("application") else ""
        out.append(_line(
            f"blocking ec ({b['waiting']}): pid {b['pid']} (user {b['user']}{app}), "
            f"{b['state'] or 'unknown state'}{age}: {(b.get('query') or '').strip()}"
        ))  # fmt: skip
    return out


def _attention(data: dict[str, Any], active: dict[str, Any] | None) -> list[RenderableType]:
    """What needs the user: rows `up` cannot convert, a phase that failed or was interrupted,
    a health-gated switch that did not pass."""
    out: list[RenderableType] = []
    for table, count in (data.get("pending_rows") or {}).items():
        if count:
            out.append(_line(
                f"{count} row(s) of {table} are pending: `up` could not convert them yet "
                "(the old version's writes go through); fix them, then `ec apply` again"
            ))  # fmt: skip
    for phase, info in (active or {}).get("phases", {}).items():
        if info.get("status") in ("failed", "interrupted"):
            detail = info.get("error") or ""
            out.append(_line(f"{phase} {info['status']}: {detail}".rstrip(": ")))
            if info.get("hint"):
                out.append(_line(f"  hint: {info['hint']}"))
    health = data.get("health")
    if isinstance(health, dict) and health.get("outcome"):
        why = f": {health['reason']}" if health.get("reason") else ""
        out.append(_line(f"last health-gated switch: {health['outcome']}{why}"))
    return out
