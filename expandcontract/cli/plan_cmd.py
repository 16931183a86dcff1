"""``ec plan``."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from expandcontract.cli.app import App, common_options, format_option
from expandcontract.cli.engine_cmd import make_engine
from expandcontract.config import Settings
from expandcontract.engine.migration import load
from expandcontract.engine.plan import Plan


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
