"""``ec switch``, optionally health-gated: ``--health-cmd|--health-url … --watch 5m``."""

from __future__ import annotations

import dataclasses
from typing import Any

import click
from rich.console import Console

from expandcontract.cli.app import App, common_options
from expandcontract.cli.engine_cmd import make_engine, render_summary
from expandcontract.cli.health_options import DURATION, health_options
from expandcontract.cli.metrics_opt import metrics_port_option, with_metrics
from expandcontract.health import HealthGate
from expandcontract.observe import Event, Observer, fanout


@click.command()
@click.option("--back", is_flag=True, help="Make the old version current again.")
@click.option(
    "--search-path",
    "search_path",
    help="Also set the default search_path of `database` or `role:NAME` to the version.",
)
@click.option(
    "--watch",
    "watch_s",
    type=DURATION,
    default=None,
    help="With a health probe: keep probing this long after the switch (30s, 5m, 1h; "
    "default 5m) and switch back on --health-failures consecutive failures (exit 1).",
)
@health_options
@metrics_port_option
@common_options
def switch(
    app: App,
    back: bool,
    search_path: str | None,
    watch_s: float | None,
    health: HealthGate | None,
    metrics_port: int | None,
) -> None:
    """Make the new version current (or, with --back, the old one), instantly."""
    if watch_s is not None and health is None:
        raise click.UsageError("--watch needs a health probe: --health-cmd or --health-url")
    if health is not None and back:
        raise click.UsageError("a health probe watches a switch to the new version, not --back")
    app.next_action = (
        f"fix the cause, then run `ec switch{' --back' if back else ''}` again "
        "(`ec status` shows which version is current)"
    )
    engine = with_metrics(app, make_engine(app), metrics_port)
    if health is None:
        data = engine.switch(back=back, search_path=search_path)
        app.emit({"ok": True, **data}, lambda console: render_summary(console, data))
        return
    watch = 300.0 if watch_s is None else watch_s
    if not app.json:
        app.err.print(
            f"probing {health.describe()} before switching; then every "
            f"{health.interval_s:g}s for {watch:g}s (switching back after "
            f"{health.failures} consecutive failures)",
            markup=False,
        )
        engine = dataclasses.replace(engine, observer=fanout(engine.observer, _lines(app)))
    data = engine.switch(search_path=search_path, health=health, watch_s=watch)
    app.emit({"ok": True, **data}, lambda console: _render(console, data))


def _lines(app: App) -> Observer:
    """One stderr line per change the watch sees: each failed check, and a recovery."""
    failing = [False]

    def show(event: Event) -> None:
        if event["event"] != "health" or event.get("stage") != "watch":
            return
        if not event["healthy"]:
            app.err.print(
                f"check {event['check']}: probe failed ({event['failures']}/{event['of']} "
                f"consecutive): {event['detail']}",
                markup=False,
            )
        elif failing[0]:
            app.err.print(f"check {event['check']}: probe healthy again", markup=False)
        failing[0] = not event["healthy"]

    return show


def _render(console: Console, data: dict[str, Any]) -> None:
    render_summary(console, data)
    verdict = data["health"]
    console.print(
        f"health watch passed: {verdict['checks']} check(s) over {verdict['watched_s']:g}s, "
        "the new version stays current",
        markup=False,
    )
