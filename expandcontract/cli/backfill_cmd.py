"""``ec backfill run|status|pause|resume|cancel``: a thin layer over expandcontract.backfill."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from expandcontract.backfill import (
    BackfillSettings,
    ProgressTracker,
    backfill_status,
    cancel_backfill,
    parse_assignment,
    pause_backfill,
    resume_backfill,
    run_backfill,
)
from expandcontract.backfill.progress import JsonLines, fanout
from expandcontract.cli.app import App, common_options
from expandcontract.config import Settings
from expandcontract.errors import ConfigError
from expandcontract.progress import PlainView, TerminalView

_SETTING_FIELDS = {f.name: f for f in dataclasses.fields(BackfillSettings)}


@click.group()
def backfill() -> None:
    """Batched, throttled, resumable UPDATEs over big tables."""


def _parse_setting(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or key not in _SETTING_FIELDS:
        raise ConfigError(
            f"unknown backfill setting {text!r}",
            f"use KEY=VALUE with KEY one of: {', '.join(sorted(_SETTING_FIELDS))}",
        )
    raw = raw.strip()
    if raw.lower() in ("none", "off", "null"):
        return key, None if key != "pause_on_autovacuum" else "off"
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def build_settings(settings: Settings, overrides: dict[str, Any]) -> BackfillSettings:
    base: dict[str, Any] = {
        "lock_timeout_ms": settings.lock_timeout_ms,
        "reconnect_max_s": settings.retry_max_ms / 1000,
    }
    if settings.statement_timeout_ms != Settings().statement_timeout_ms:
        base["statement_timeout_ms"] = settings.statement_timeout_ms
    base.update({k: v for k, v in overrides.items() if v is not None})
    defaults = BackfillSettings()
    for key, value in base.items():
        # A value of the wrong kind (lease_s=abc) says which setting, not a Python error.
        default = getattr(defaults, key, None)
        numeric = isinstance(default, int | float) and not isinstance(default, bool)
        if numeric and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ConfigError(
                f"invalid backfill setting {key}={value!r}: a number is expected",
                f"e.g. --setting {key}={default}",
            )
    try:
        return BackfillSettings(**base)
    except TypeError as exc:
        raise ConfigError(f"invalid backfill setting: {exc}") from None


@backfill.command("run")
@click.option("--table", "-t", required=True, help="Table to backfill (in --schema).")
@click.option(
    "--set",
    "assignments",
    multiple=True,
    required=True,
    help='Assignment "column = SQL expression"; repeat for several columns.',
)
@click.option("--where", help="Only rows matching this SQL condition (rows still needing work).")
@click.option("--key", "keys", multiple=True, help="Key columns (default: the primary key).")
@click.option("--name", help="Backfill name; re-running with the same name resumes.")
@click.option("--batch-target-ms", type=float, help="Target batch duration (default 200).")
@click.option("--max-rows-per-second", type=float, help="Global rate cap over all workers.")
@click.option("--workers", type=int, help="Parallel worker processes (default 1).")
@click.option(
    "--max-replica-lag",
    "max_replica_lag_s",
    type=float,
    help="Pause above this replica lag in seconds (default 5).",
)
@click.option("--lag-query", help="SQL returning a lag in seconds, checked with replica lag.")
@click.option("--health-url", help="Pause while this URL does not answer 2xx.")
@click.option("--health-command", help="Pause while this shell command exits non-zero.")
@click.option("--pause-on-autovacuum", type=click.Choice(["any", "wraparound", "off"]))
@click.option("--max-dead-tuple-ratio", type=float, help="Pause above this dead-tuple ratio.")
@click.option("--no-verify", is_flag=True, help="Skip the final verification sweep.")
@click.option("--metrics-port", type=int, help="Serve Prometheus metrics on this port.")
@click.option(
    "--setting",
    "extra",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any BackfillSettings field, e.g. lease_s=30 (see docs/backfill.md).",
)
@common_options
def run_cmd(app: App, **opts: Any) -> None:  # fmt: skip
    """Run (or resume) a backfill: ec backfill run -t T --set "col = expr"."""
    overrides: dict[str, Any] = dict(_parse_setting(s) for s in opts.pop("extra"))
    for key in ("batch_target_ms", "max_rows_per_second", "workers", "max_replica_lag_s",
                "lag_query", "health_url", "health_command", "pause_on_autovacuum",
                "max_dead_tuple_ratio"):  # fmt: skip
        if opts.get(key) is not None:
            overrides[key] = opts[key]
    if opts["no_verify"]:
        overrides["verify"] = False
    settings = build_settings(app.settings, overrides)
    assignments = dict(parse_assignment(a) for a in opts["assignments"])
    keys = [k.strip() for group in opts["keys"] for k in group.split(",") if k.strip()]
    url = app.settings.require_database_url()
    kwargs: dict[str, Any] = {
        "table": opts["table"],
        "assignments": assignments,
        "where": opts["where"],
        "keys": keys or None,
        "name": opts["name"],
        "schema": app.settings.schema,
        "settings": settings,
        "ledger_schema": app.settings.ledger_schema,
        "metrics_port": opts["metrics_port"],
    }
    if app.json:
        # Every event as a JSON line, plus progress snapshots (counts include earlier runs:
        # the tracker is seeded by the start event).
        tracker = ProgressTracker(str(opts["name"] or ""), opts["table"], "", 0)
        lines = JsonLines(tracker)
        run_backfill(url, on_progress=fanout(tracker.observe, lines), **kwargs)
        return
    view = TerminalView(app.err) if app.err.is_terminal else PlainView(app.err)

    def on_event(event: dict[str, Any]) -> None:
        if event.get("event") == "start" and event.get("mode") == "once":
            notice = _once_notice(str(event.get("mode_reason")))
            app.err.print(f"[yellow]mode: once[/] ({notice})", markup=True)
        # The same view as `ec apply`'s backfills: events of the engine's stream.
        view({"event": "backfill", "ts": round(time.time(), 3), "name": event.get("name"),
              "table": event.get("table"), "data": event})  # fmt: skip

    with view:
        result = run_backfill(url, on_progress=on_event, **kwargs)
    if result.mode == "once":
        check = f"mode: once ({_once_notice(result.mode_reason)}); verified: false"
    else:
        check = (
            f"mode: converge; verified: {str(result.verified).lower()}, "
            f"stragglers fixed: {result.stragglers}"
        )
    app.console.print(
        f"backfill [bold]{escape(result.name)}[/]: {result.rows_updated:,} rows updated in "
        f"{result.batches:,} batches over {result.rows_scanned:,} rows, {result.duration_s:.1f}s "
        f"(throttled {result.throttled_s:.1f}s), key: {escape(result.key)}; {check}",
        markup=True,
        highlight=False,
    )


def _once_notice(reason: str) -> str:
    """Markup-safe: the reason quotes the user's expressions."""
    return (
        f"{escape(reason)}; so each row is updated exactly once, in key order, and not verified by "
        "a sweep"
    )


@backfill.command("status")
@click.argument("name", required=False)
@common_options
def status_cmd(app: App, name: str | None) -> None:
    """Show backfills (or one): progress, throttle reason, ranges and leases."""
    rows = backfill_status(
        app.settings.require_database_url(), name, ledger_schema=app.settings.ledger_schema
    )
    data = {"ok": True, "backfills": rows}

    def render(console: Console) -> None:
        if not rows:
            console.print("no backfills recorded", markup=False)
            return
        console.print(status_table(rows))
        for b in rows:
            if b["throttle_reason"]:
                console.print(f"{b['name']}: paused: {b['throttle_reason']}", markup=False)
            if b["error"]:
                console.print(f"{b['name']}: {b['error']}", markup=False)
            if b.get("hint"):  # an interrupted run: since when, and how to resume it
                seen = f" (last seen {b['last_seen']})" if b.get("last_seen") else ""
                console.print(f"{b['name']}{seen}: {b['hint']}", markup=False)

    app.emit(data, render)


def status_table(rows: list[dict[str, Any]]) -> Table:
    """One row per backfill that fits 80 columns: long names fold onto a second line rather
    than being cut; the throttle reason, errors and hints follow the table as lines."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("backfill", overflow="fold", ratio=3)
    table.add_column("table", overflow="fold", ratio=2)
    table.add_column("status", overflow="fold")
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("%", justify="right", no_wrap=True)
    table.add_column("verified", no_wrap=True)
    for b in rows:
        done = f"{b['rows_scanned']:,}"
        if b["rows_estimate"]:
            done += f"/{max(b['rows_estimate'], b['rows_scanned']):,}"
        percent = "" if b["percent"] is None else f"{b['percent']:g}"
        verified = "yes" if b["verified"] else "no"
        cells = (b["name"], b["table"], b["status"], done, percent, verified)
        table.add_row(*(Text(str(cell)) for cell in cells))  # names are not markup
    return table


def _control(verb: str, past: str) -> click.Command:
    actions = {"pause": pause_backfill, "resume": resume_backfill, "cancel": cancel_backfill}

    @click.command(verb)
    @click.argument("name")
    @common_options
    def command(app: App, name: str) -> None:
        row = actions[verb](
            app.settings.require_database_url(), name, ledger_schema=app.settings.ledger_schema
        )
        said = f"backfill {name!r} {past}"
        app.emit({"ok": True, "backfill": row}, lambda console: console.print(said, markup=False))

    command.help = {
        "pause": "Pause a running backfill before its next batch.",
        "resume": "Resume a paused backfill.",
        "cancel": "Stop a backfill after its current batch (run again to resume).",
    }[verb]
    return command


backfill.add_command(_control("pause", "paused (workers stop before their next batch)"))
backfill.add_command(_control("resume", "resumed"))
backfill.add_command(_control("cancel", "cancelled (workers stop after their current batch)"))
