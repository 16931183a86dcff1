"""``ec switch``."""

from __future__ import annotations

import click

from expandcontract.cli.app import App, common_options
from expandcontract.cli.engine_cmd import make_engine, render_summary


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
    app.emit({"ok": True, **data}, lambda console: render_summary(console, data))
