"""The options every command accepts after its name, declared once. Imports only click, so
``ec lint`` on a warm cache can use them without loading rich."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = [
    click.option("-d", "--database-url", help="Target database (env EC_DATABASE_URL)."),
    click.option("--schema", help="Base schema the app uses (default: public)."),
    click.option("--ledger-schema", help="Schema of ec's ledger (default: expandcontract)."),
    click.option("--lock-timeout", help="lock_timeout per DDL attempt, e.g. 500ms (default)."),
    click.option("--statement-timeout", help="statement_timeout per statement, e.g. 10min."),
    click.option(
        "-v", "--verbose", is_flag=True, default=None, help="Log every statement; tracebacks."
    ),
    click.option("--json", "json_output", is_flag=True, help="Machine-readable output."),
]


def shared_options(fn: F) -> F:
    for option in reversed(_OPTIONS):
        fn = option(fn)
    return fn


def pop_shared(params: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Take the shared options out of a command's params: (Settings flags, json output?).
    ``--json`` is the same as ``--format json``."""
    json_output = bool(params.pop("json_output")) or params.get("output_format") == "json"
    flags = {
        "database_url": params.pop("database_url"),
        "schema": params.pop("schema"),
        "ledger_schema": params.pop("ledger_schema"),
        "lock_timeout_ms": params.pop("lock_timeout"),
        "statement_timeout_ms": params.pop("statement_timeout"),
        "verbose": params.pop("verbose"),
    }
    return flags, json_output
