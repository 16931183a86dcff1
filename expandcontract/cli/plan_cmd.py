"""``ec plan``."""

from __future__ import annotations

import textwrap
from typing import Any

import click
import psycopg
from rich.console import Console
from rich.markup import escape
from rich.rule import Rule
from rich.text import Text

from expandcontract.cli.app import App, common_options, format_option
from expandcontract.cli.engine_cmd import make_engine
from expandcontract.config import Settings
from expandcontract.engine.estimates import BUDGET_MS, SAMPLE_PAGES, estimate_plan
from expandcontract.engine.migration import load


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@format_option("text", "json", "sql")
@click.option(
    "--estimate/--no-estimate",
    default=True,
    show_default=True,
    help=f"Sample each table the plan scans or backfills (read-only, at most {BUDGET_MS} ms "
    "per table) for row counts and durations.",
)
@common_options
def plan(app: App, file: str, output_format: str, estimate: bool) -> None:
    """Show every step of every phase: SQL, lock, what it does to the table, estimated time;
    nothing is changed."""
    migration = load(file)
    result = make_engine(app).plan(migration)
    estimates = None
    if estimate:
        try:
            estimates = estimate_plan(app.settings.require_database_url(), result)
        except psycopg.Error as exc:  # the plan stands without its estimates
            result.warnings.append(f"no estimates: {type(exc).__name__}: {str(exc).strip()}")
    data = {"ok": True, **result.to_json(estimates=estimates)}
    if output_format == "sql":
        click.echo(render_sql(data, app.settings))
        return
    app.emit(data, lambda console: render_plan(console, data, app.settings))


def _timeouts(step: dict[str, Any], settings: Settings) -> tuple[int, int]:
    lock_ms = step["lock_timeout_ms"] or settings.lock_timeout_ms
    stmt_ms = step["statement_timeout_ms"]
    return lock_ms, settings.statement_timeout_ms if stmt_ms is None else stmt_ms


def render_sql(data: dict[str, Any], settings: Settings) -> str:
    """The plan as the runner executes it: each step with its timeouts, in its own transaction
    unless it cannot run in one (CONCURRENTLY)."""
    lines = [f"-- ec plan for {data['migration']} (new version schema {data['version_schema']})"]
    for phase, steps in data["phases"].items():
        lines.append(f"\n-- ==== {phase} ====")
        for step in steps:
            lock_ms, stmt_ms = _timeouts(step, settings)
            lines.append(f"-- {step['description']}: {step['lock']}, {step['duration']}")
            if "estimated_duration" in step:
                lines.append(f"--   {_effect(step)}, estimated {_time(step)}")
            timeouts = [
                f"SET lock_timeout = '{lock_ms}ms';",
                f"SET statement_timeout = '{stmt_ms}ms';",
            ]
            if step["transactional"]:
                lines += ["BEGIN;", *timeouts, *[f"{s};" for s in step["statements"]], "COMMIT;"]
            else:
                lines += [*timeouts, *[f"{s};" for s in step["statements"]]]
        if phase == "expand":
            lines += [f"-- then {line}" for line in _backfill_lines(data)]
    return "\n".join(lines)


def render_plan(console: Console, data: dict[str, Any], settings: Settings) -> None:
    """Per phase, each step: what it does, its lock, whether it reads or rewrites the table,
    an estimated duration, then its SQL as the runner runs it - wrapped below the step, so
    the output fits the terminal (80 columns and up)."""
    width = max(60, console.width)
    console.print(
        f"[bold]{escape(data['migration'])}[/]: {escape(data['old_schema'])} -> "
        f"[bold]{escape(data['version_schema'])}[/]",
        markup=True,
    )
    for phase, steps in data["phases"].items():
        console.print(Rule(Text(f"{phase} ({len(steps)} steps)", style="bold"), align="left"))
        for number, step in enumerate(steps, start=1):
            _print_step(console, width, number, step, settings)
        if phase == "expand":
            for line in _backfill_lines(data):
                _print_wrapped(console, width, f"then {line}", "bold", indent=0, hang=5)
    if "estimates" in data:
        budget = data["estimates"]["sample_budget_ms_per_table"]
        note = (
            "Estimates: rows from the table's statistics, or from a sample of at most "
            f"{SAMPLE_PAGES} pages when it was never analysed; durations are ranges from the "
            f"sampled read rate (at most {budget} ms per table, read-only), not promises."
        )
        _print_wrapped(console, width, note, "dim", indent=0)
    for warning in data["warnings"]:
        console.print(f"[yellow]warning:[/] {escape(warning)}", markup=True)


def _print_step(
    console: Console, width: int, number: int, step: dict[str, Any], settings: Settings
) -> None:
    lock_ms, _ = _timeouts(step, settings)
    meta = [step["lock"], f"lock_timeout {_ms(lock_ms)}"]
    if "estimated_duration" in step:
        meta += [_effect(step), f"est. {_time(step)}"]
    else:
        meta.append(step["duration"])
    if not step["transactional"]:
        meta.append("no transaction")
    _print_wrapped(console, width, f"{number:>2}. {step['description']}", "bold", 0, hang=4)
    for line in _joined(meta, " | ", width - 4):
        console.print(Text(f"    {line}", style="cyan"), soft_wrap=True)
    basis = step.get("estimated_duration", {}).get("basis")
    if basis and step.get("scans"):
        _print_wrapped(console, width, f"({basis})", "cyan", indent=4)
    for statement in step["statements"]:
        for line in _shortened(f"{statement};").splitlines() or [""]:
            _print_wrapped(console, width, line, "dim", indent=4, hang=6)


def _print_wrapped(
    console: Console, width: int, text: str, style: str, indent: int, hang: int | None = None
) -> None:
    """Wrapped at ``width`` with no trailing blanks (copy-paste stays clean)."""
    lines = textwrap.wrap(
        text,
        width=width,
        initial_indent=" " * indent,
        subsequent_indent=" " * (indent if hang is None else hang),
        break_long_words=True,
        break_on_hyphens=False,
        drop_whitespace=True,
    ) or [" " * indent]
    for line in lines:
        console.print(Text(line, style=style), soft_wrap=True)


def _joined(items: list[str], separator: str, width: int) -> list[str]:
    """``items`` joined, wrapped between items only (an item such as "< 1 s" stays whole)."""
    lines = [items[0]]
    for item in items[1:]:
        if len(lines[-1]) + len(separator) + len(item) <= width:
            lines[-1] += separator + item
        else:
            lines.append(item)
    return lines


def _ms(ms: int) -> str:
    if ms and ms % 60_000 == 0:
        return f"{ms // 60_000} min"
    if ms and ms % 1000 == 0:
        return f"{ms // 1000} s"
    return f"{ms} ms"


SHOWN_CHARS = 400  # a trigger function is thousands of characters: --format sql has it all


def _shortened(statement: str) -> str:
    if len(statement) <= SHOWN_CHARS:
        return statement
    rest = len(statement) - SHOWN_CHARS
    return f"{statement[:SHOWN_CHARS]}... ({rest:,} more characters: ec plan --format sql)"


def _effect(step: dict[str, Any]) -> str:
    effect = str(step["effect"])
    if step.get("table") and step["scans"]:
        return f"{effect} of {step['table']}"
    return effect


def _time(step: dict[str, Any]) -> str:
    return str(step["estimated_duration"]["text"])


def _backfill_lines(data: dict[str, Any]) -> list[str]:
    lines = []
    for job in data["backfills"]:
        if "rows_source" in job:
            rows = job["estimated_rows"]
            count = "unknown rows" if rows is None else f"~{rows:,} rows ({job['rows_source']})"
            duration = job["estimated_duration"]
            lines.append(
                f"backfill {job['table']}: {count}, every row rewritten in batched UPDATEs, "
                f"est. {duration['text']} ({duration['basis']})"
            )
        else:
            lines.append(
                f"backfill {job['table']}: ~{job['estimated_rows']:,} rows (catalog, not sampled)"
            )
    return lines
