"""The ``ec`` command line: a thin click layer over the library.

Commands are imported only when they run, so ``ec lint`` on a warm cache never pays for
psycopg, SQLAlchemy or sqlglot, and ``ec --help`` stays instant.
"""

from __future__ import annotations

import importlib

import click

from expandcontract import __version__

COMMANDS = {
    "init": ("expandcontract.cli.ledger_cmds", "init"),
    "status": ("expandcontract.cli.ledger_cmds", "status"),
    "plan": ("expandcontract.cli.plan_cmd", "plan"),
    "apply": ("expandcontract.cli.apply_cmds", "apply"),
    "switch": ("expandcontract.cli.switch_cmd", "switch"),
    "complete": ("expandcontract.cli.apply_cmds", "complete"),
    "rollback": ("expandcontract.cli.apply_cmds", "rollback"),
    "backfill": ("expandcontract.cli.backfill_cmd", "backfill"),
    "lint": ("expandcontract.cli.lint_cmd", "lint"),
    "verify": ("expandcontract.cli.verify_cmd", "verify"),
    "demo": ("expandcontract.cli.demo", "demo"),
    "server": ("expandcontract.cli.server_cmd", "server"),
    "alembic": ("expandcontract.cli.alembic_cmd", "alembic"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module, attr = COMMANDS[cmd_name]
            command = getattr(importlib.import_module(module), attr)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="ec")
def cli() -> None:
    """expandcontract: zero-downtime PostgreSQL schema changes."""


def main() -> None:
    cli(prog_name="ec")
