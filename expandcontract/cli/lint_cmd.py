"""``ec lint``: the migration linter and CI gate.

A warm run (every file a cache hit) must start faster than squawk, so this module imports
only click: the shared options come from ``cli.options`` (no rich), and ``cli.app`` with rich
is loaded only to report an error or to log with ``-v``. sqlglot loads only when a file needs
linting.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from expandcontract.cli.options import pop_shared, shared_options
from expandcontract.errors import EXIT_USAGE, ConfigError, ECError

F = TypeVar("F", bound=Callable[..., Any])


class LintInternalError(ECError):
    exit_code = EXIT_USAGE


def _csv(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _fail(exc: ECError, flags: dict[str, Any], json_output: bool) -> NoReturn:
    from expandcontract.cli.app import App
    from expandcontract.config import Settings

    App(Settings(verbose=bool(flags.get("verbose"))), json_output=json_output).fail(exc)


def lint_options(fn: F) -> F:
    """``common_options`` without importing rich: same options, same error handling."""

    @shared_options
    @functools.wraps(fn)
    def wrapper(**params: Any) -> Any:
        flags, json_output = pop_shared(params)
        try:
            from expandcontract.config import Settings

            settings = Settings.load(flags)  # the same validation as every other command
            if settings.verbose:
                from expandcontract.cli.app import _configure_logging

                _configure_logging(True)
            # the database lint reads (--database-url or EC_DATABASE_URL, not pyproject's
            # database_url: a checked-in URL must not make a CI lint start connecting)
            params["database_url"] = flags["database_url"] or os.environ.get("EC_DATABASE_URL")
            return fn(json_output, **params)
        except ECError as exc:
            _fail(exc, flags, json_output)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # a bug in ec: say so plainly, no traceback unless -v
            _fail(
                LintInternalError(
                    f"internal error: {type(exc).__name__}: {exc}",
                    "re-run with -v for the traceback and report it",
                ),
                flags,
                json_output,
            )

    return wrapper  # type: ignore[return-value]


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "sarif", "github", "gitlab"]),
    default="text",
    show_default=True,
    help="Output format (--json is the same as --format json).",
)
@click.option("--pg-version", type=int, help="Target PostgreSQL major version (default 15).")
@click.option("--since", "since", metavar="GIT_REF", help="Only files changed since GIT_REF.")
@click.option("--select", multiple=True, help="Only these rules (comma separated; ALL = every).")
@click.option("--ignore", "ignore_rules", multiple=True, help="Skip these rules.")
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "info"]),
    default=None,
    help="Lowest severity that fails the run (default: warning).",
)
@click.option(
    "--assume-in-transaction/--no-assume-in-transaction",
    default=None,
    help="Treat every file as wrapped in a transaction by the migration tool.",
)
@click.option(
    "--migration-tool",
    metavar="TOOL",
    default=None,
    help="Lint every SQL file as this migration tool runs it (diesel, golang-migrate, prisma, "
    "flyway, sqitch, rails, dbmate, goose, plain, …; default: detect per file).",
)
@click.option(
    "--alembic-execute",
    is_flag=True,
    default=None,
    help="Import Alembic revisions and run their upgrade()/downgrade() offline to lint them "
    "(runs the files' code; default: read them statically, nothing of them runs).",
)
@click.option("--list-rules", is_flag=True, help="List the rules and exit.")
@click.option("--no-cache", is_flag=True, help="Do not read or write .ec_cache/lint.")
@lint_options
def lint(
    json_output: bool,
    paths: tuple[str, ...],
    output_format: str,
    pg_version: int | None,
    since: str | None,
    select: tuple[str, ...],
    ignore_rules: tuple[str, ...],
    fail_on: str | None,
    assume_in_transaction: bool | None,
    migration_tool: str | None,
    list_rules: bool,
    no_cache: bool,
    alembic_execute: bool | None = None,
    database_url: str | None = None,
) -> None:
    """Lint SQL migrations, ec migration files and Alembic revisions for locking and
    backward-compatibility hazards (PATH "-" reads SQL from stdin). Exit 0 clean, 1 findings,
    2 usage or internal error."""
    fmt = "json" if json_output else output_format
    if list_rules:
        from expandcontract.lint.listing import list_rules_output

        click.echo(list_rules_output(fmt))
        return
    if not paths:
        raise ConfigError("give at least one PATH (file or directory)", "e.g. ec lint migrations/")
    if alembic_execute is not None:  # this run imports (or never imports) Alembic revisions
        from expandcontract.lint.inputs.alembic_project import execution

        click.get_current_context().with_resource(execution(alembic_execute))
    from expandcontract.lint.api import run_lint

    try:
        reports, failed = run_lint(
            list(paths),
            pg_version=pg_version,
            since=since,
            select=_csv(select),
            ignore=_csv(ignore_rules),
            fail_on=fail_on,
            assume_in_transaction=assume_in_transaction,
            migration_tool=migration_tool,
            use_cache=not no_cache,
            database_url=database_url,
        )
    except ECError:
        raise
    except Exception as exc:
        raise LintInternalError(
            f"internal error: {type(exc).__name__}: {exc}",
            "re-run with -v for the traceback and report it",
        ) from exc
    from expandcontract.lint.output import render

    output = render(reports, fmt)
    if output:
        click.echo(output)
    sys.exit(1 if failed else 0)
