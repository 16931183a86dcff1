"""``ec demo``."""

from __future__ import annotations

import click

from expandcontract.cli.app import App, common_options, server_option
from expandcontract.demo import run_demo


@click.command()
@server_option
@common_options
def demo(app: App, server: str | None) -> None:
    """A short real tour on a throwaway PostgreSQL server (embedded by default)."""

    def say(message: str) -> None:
        if not app.json:
            app.console.print(message, markup=False)  # values from the database, verbatim

    summary = run_demo(server or app.settings.server, say=say)
    app.emit({"ok": True, **summary}, lambda console: None)
