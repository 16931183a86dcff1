"""The ``ec`` command line: a thin click layer over the library."""

from __future__ import annotations

import click

from expandcontract import __version__
from expandcontract.cli.demo import demo
from expandcontract.cli.ledger_cmds import init, status


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="ec")
def cli() -> None:
    """expandcontract: zero-downtime PostgreSQL schema changes."""


cli.add_command(init)
cli.add_command(status)
cli.add_command(demo)


def main() -> None:
    cli(prog_name="ec")
