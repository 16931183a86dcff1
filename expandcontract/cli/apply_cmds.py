"""``ec apply``, ``ec complete``, ``ec rollback``, each showing its progress as it runs
(cli/progress_view.py)."""

from __future__ import annotations

import shlex

import click

from expandcontract.cli.app import App, common_options
from expandcontract.cli.engine_cmd import make_engine
from expandcontract.cli.health_options import announce_backfill_gate, health_options
from expandcontract.cli.metrics_opt import metrics_port_option, with_metrics
from expandcontract.cli.progress_view import run_with_progress
from expandcontract.engine.api import ON_FAILURE, PHASE_ORDER
from expandcontract.engine.migration import load
from expandcontract.health import HealthGate


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
@health_options
@metrics_port_option
@common_options
def apply(
    app: App,
    file: str,
    phase: str,
    on_failure: str,
    health: HealthGate | None,
    metrics_port: int | None,
) -> None:
    """Apply a migration (default: expand + backfill, both versions live). Re-run to resume."""
    migration = load(file)
    app.next_action = (
        "ec records every finished step: fix the cause, then run "
        f"`ec apply {shlex.quote(file)}` again to continue from where it stopped, or undo with "
        "`ec rollback` (`ec status` shows the state)"
    )
    announce_backfill_gate(app, health, on_failure)
    run_with_progress(
        app,
        with_metrics(app, make_engine(app), metrics_port),
        lambda engine: engine.apply(migration, through=phase, on_failure=on_failure, health=health),
    )


@click.command()
@metrics_port_option
@common_options
def complete(app: App, metrics_port: int | None) -> None:
    """Contract the active migration: only once its backfill is verified."""
    app.next_action = (
        "fix the cause, then run `ec complete` again: it continues from the last finished step "
        "(`ec status` shows the phase)"
    )
    engine = with_metrics(app, make_engine(app), metrics_port)
    run_with_progress(app, engine, lambda engine: engine.complete())


@click.command()
@common_options
def rollback(app: App) -> None:
    """Undo the active migration's expand; the old version's data stays intact."""
    app.next_action = (
        "fix the cause, then run `ec rollback` again: it continues from the last finished step "
        "(`ec status` shows the phase)"
    )
    run_with_progress(app, make_engine(app), lambda engine: engine.rollback())
