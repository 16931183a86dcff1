"""``ec demo``: the measured side-by-side demo, or ``--quick`` for the short tour."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from expandcontract.cli.app import App, common_options, server_option

if TYPE_CHECKING:
    from expandcontract.demo import DemoResult

CHART_WIDTH = 80


@click.command()
@click.option(
    "--quick", is_flag=True, help="The short tour instead (a few seconds, no measurement)."
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the chart and the numbers as one self-contained HTML file.",
)
@server_option
@common_options
def demo(app: App, server: str | None, quick: bool, report_path: Path | None) -> None:
    """The same schema change made naively and through ec, each under the same live app
    traffic on a throwaway PostgreSQL (embedded by default): latency charted, every number
    measured in this run. --lock-timeout sets ec's lock_timeout (here 200 ms by default)."""
    from expandcontract.demo import run_demo, run_tour, write_report

    started = time.perf_counter()
    if report_path is not None and not report_path.parent.is_dir():
        # Said before the run, not after it.
        raise click.BadParameter(f"no folder {str(report_path.parent)!r}", param_hint="--report")

    def say(message: str) -> None:
        if not app.json:
            app.console.print(message, markup=False)  # values from the database, verbatim

    kind = server or app.settings.server
    if quick:
        summary = run_tour(kind, say=say)
        app.emit({"ok": True, **summary}, lambda console: None)
        return
    # ec's lock_timeout in the demo: 200 ms unless --lock-timeout is given (ec's default
    # for real migrations is 500 ms; pyproject settings do not apply to a throwaway demo).
    given = click.get_current_context().params.get("lock_timeout") is not None
    timeout = {"lock_timeout_ms": app.settings.lock_timeout_ms} if given else {}
    result = run_demo(kind, say=say, **timeout)
    written = write_report(result, report_path) if report_path is not None else None
    seconds = time.perf_counter() - started
    data: dict[str, Any] = {
        "ok": True,
        **result.as_json(),
        "report": str(written) if written else None,
        "seconds": round(seconds, 2),
    }

    app.emit(data, lambda console: print_result(console, result, seconds, written))


def print_result(
    console: Console, result: DemoResult, seconds: float, written: Path | None
) -> None:
    """The chart, the summary, what ec did about the blocker, where the report is, how long
    the whole demo took."""
    from expandcontract.demo import render

    console.print()
    for line in render(result.runs, width=min(CHART_WIDTH, console.width)):
        console.print(line, no_wrap=True, crop=True)
    for note in result.run("ec").notes:  # ec's lock retries, who blocked it, its tuning
        console.print(textwrap.fill(note, width=CHART_WIDTH), markup=False, style="dim")
    if written:
        console.print(f"report: {written}", markup=False)
    t = result.timings_s
    done = (
        f"done in {seconds:.1f} s (server {t['server']:.1f} s, seeding {t['seed']:.1f} s, "
        f"naive run {t['naive']:.1f} s, ec run {t['ec']:.1f} s); the throwaway server is gone."
    )
    console.print(textwrap.fill(done, width=CHART_WIDTH), markup=False)
