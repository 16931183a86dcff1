"""What the migration commands share: the engine for this invocation, the summary."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from expandcontract.cli.app import App
from expandcontract.engine.api import Engine
from expandcontract.events import EventSink, log_event


def make_engine(app: App, *, sink: EventSink | None = log_event) -> Engine:
    from expandcontract.engine.backfill import table_backfill

    url = app.settings.require_database_url()
    return Engine(url, app.settings, backfill=table_backfill(url, app.settings), sink=sink)


def render_summary(console: Console, data: dict[str, Any]) -> None:
    console.print(
        f"migration [bold]{escape(str(data['migration']))}[/]: phase {data['phase']}, "
        f"current version schema [bold]{escape(str(data['current_schema']))}[/]",
        markup=True,
    )
    for phase, info in data.get("phases", {}).items():
        console.print(f"  {phase}: {info['status']}", markup=False)
