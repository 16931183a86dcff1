"""``ec plan``, ``ec apply``, ``ec switch``, ``ec complete``, ``ec rollback``."""

from __future__ import annotations

import shlex
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from expandcontract.cli.app import App, common_options, format_option
from expandcontract.config import Settings
from expandcontract.engine.api import ON_FAILURE, PHASE_ORDER, Engine
from expandcontract.engine.migration import load
from expandcontract.engine.plan import Plan


def make_engine(app: App) -> Engine:
    from expandcontract.engine.backfill import table_backfill

    url = app.settings.require_database_url()
    return Engine(url, app.settings, backfill=table_backfill(url, app.settings))


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@format_option("text", "json", "sql")
@common_options
def plan(app: App, file: str, output_format: str) -> None:
    """Show every step of every phase: SQL, lock, duration class; nothing is changed."""
    migration = load(file)
    result = make_engine(app).plan(migration)
    data = {"ok": True, **result.to_json()}
    if output_format == "sql":
        click.echo(render_sql(data, app.settings))
        return
    app.emit(data, lambda console: render_plan(console, result, data))


def render_sql(data: dict[str, Any], settings: Settings) -> str:
    """The plan as the runner executes it: each step with its timeouts, in its own transaction
    unless it cannot run in one (CONCURRENTLY)."""
    lines = [f"-- ec plan for {data['migration']} (new version schema {data['version_schema']})"]
    for phase, steps in data["phases"].items():
        lines.append(f"\n-- ==== {phase} ====")
        for step in steps:
            lock_ms = step["lock_timeout_ms"] or settings.lock_timeout_ms
            stmt_ms = step["statement_timeout_ms"]
            stmt_ms = settings.statement_timeout_ms if stmt_ms is None else stmt_ms
            lines.append(f"-- {step['description']}: {step['lock']}, {step['duration']}")
            timeouts = [
                f"SET lock_timeout = '{lock_ms}ms';",
                f"SET statement_timeout = '{stmt_ms}ms';",
            ]
            if step["transactional"]:
                lines += ["BEGIN;", *timeouts, *[f"{s};" for s in step["statements"]], "COMMIT;"]
            else:
                lines += [*timeouts, *[f"{s};" for s in step["statements"]]]
    return "\n".join(lines)


def render_plan(console: Console, result: Plan, data: dict[str, Any]) -> None:
    console.print(
        f"[bold]{escape(result.migration)}[/]: {escape(result.old_schema)} -> "
        f"[bold]{escape(result.version_schema)}[/]",
        markup=True,
    )
    for phase, steps in data["phases"].items():
        table = Table("step", "lock", "holds it", "txn", title=phase, title_justify="left")
        for step in steps:
            table.add_row(
                escape(step["description"]),
                escape(step["lock"]),
                escape(step["duration"]),
                "yes" if step["transactional"] else "no",
            )
        console.print(table)
        if phase == "expand" and result.backfills:
            for job in result.backfills:
                console.print(
                    f"backfill {job.table}: ~{job.estimated_rows:,} rows (estimate)", markup=False
                )
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", markup=True)


def _render_summary(console: Console, data: dict[str, Any]) -> None:
    console.print(
        f"migration [bold]{escape(str(data['migration']))}[/]: phase {data['phase']}, "
        f"current version schema [bold]{escape(str(data['current_schema']))}[/]",
        markup=True,
    )
    for phase, info in data.get("phases", {}).items():
        console.print(f"  {phase}: {info['status']}", markup=False)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--phase",
    type=click.Choice(PHASE_ORDER),
    default="backfill",
    show_default=True,
    help="Run the phases up to and including this one.",
)
@click.option(
    "--on-failure",
    "on_failure",
    type=click.Choice(ON_FAILURE),
    default="stop",
    show_default=True,
    help="If expand or the backfill fails: stop (re-run to resume) or roll back at once.",
)
@common_options
def apply(app: App, file: str, phase: str, on_failure: str) -> None:
    """Apply a migration (default: expand + backfill, both versions live). Re-run to resume."""
    migration = load(file)
    app.next_action = (
        "ec records every finished step: fix the cause, then run "
        f"`ec apply {shlex.quote(file)}` again to continue from where it stopped, or undo with "
        "`ec rollback` (`ec status` shows the state)"
    )
    data = make_engine(app).apply(migration, through=phase, on_failure=on_failure)
    app.emit({"ok": True, **data}, lambda console: _render_summary(console, data))


@click.command()
@click.option("--back", is_flag=True, help="Make the old version current again.")
@click.option(
    "--search-path",
    "search_path",
    help="Also set the default search_path of `database` or `role:NAME` to the version.",
)
@common_options
def switch(app: App, back: bool, search_path: str | None) -> None:
    """Make the new version current (or, with --back, the old one), instantly."""
    app.next_action = (
        f"fix the cause, then run `ec switch{' --back' if back else ''}` again "
        "(`ec status` shows which version is current)"
    )
    data = make_engine(app).switch(back=back, search_path=search_path)
    app.emit({"ok": True, **data}, lambda console: _render_summary(console, data))


@click.command()
@common_options
def complete(app: App) -> None:
    """Contract the active migration: only once its backfill is verified."""
    app.next_action = (
        "fix the cause, then run `ec complete` again: it continues from the last finished step "
        "(`ec status` shows the phase)"
    )
    data = make_engine(app).complete()
    app.emit({"ok": True, **data}, lambda console: _render_summary(console, data))


@click.command()
@common_options
def rollback(app: App) -> None:
    """Undo the active migration's expand; the old version's data stays intact."""
    app.next_action = (
        "fix the cause, then run `ec rollback` again: it continues from the last finished step "
        "(`ec status` shows the phase)"
    )
    data = make_engine(app).rollback()
    app.emit({"ok": True, **data}, lambda console: _render_summary(console, data))
