"""``ec alembic``: helpers for Alembic projects (expand/contract branches)."""

from __future__ import annotations

import click
from rich.console import Console
from rich.markup import escape

from expandcontract.cli.app import App, common_options


@click.group()
def alembic() -> None:
    """Helpers for Alembic projects that use ec."""


@alembic.command()
@click.option("-m", "--message", required=True, help="What the change does (both revisions).")
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="alembic.ini or pyproject.toml (default: as `alembic` finds them in this folder).",
)
@click.option("-n", "--name", default="alembic", show_default=True, help="Ini section name.")
@common_options
def revision(app: App, message: str, config_path: str | None, name: str) -> None:
    """Create an expand revision (on expand@head) and a contract revision (on contract@head)
    that depends on it; the first use creates both branches from the current head."""
    from expandcontract.alembic.branches import create_pair, load_config

    pair = create_pair(load_config(config_path, name), message)
    data = {
        "expand": {"revision": pair.expand.revision, "path": pair.expand.path},
        "contract": {"revision": pair.contract.revision, "path": pair.contract.path},
        "created_branches": list(pair.created_branches),
    }

    def render(out: Console) -> None:
        if pair.created_branches:
            out.print(f"created branch label(s): {', '.join(pair.created_branches)}")
        for phase, script in (("expand", pair.expand), ("contract", pair.contract)):
            out.print(f"{phase:<8} {script.revision}  {escape(script.path)}")
        out.print(
            "next: fill in both; `alembic upgrade expand@head` before deploying the new "
            "version, `alembic upgrade contract@head` once it runs everywhere"
        )

    app.emit(data, render)
