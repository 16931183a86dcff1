"""What every ec command shares: common options, settings, output and error handling.

Commands are thin: they parse flags, call the library, and render with ``App.emit``.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from expandcontract.cli.options import pop_shared, shared_options
from expandcontract.config import Settings
from expandcontract.dsn import mask_dsn
from expandcontract.errors import EXIT_FAILED, ECError
from expandcontract.events import MaskingFilter

F = TypeVar("F", bound=Callable[..., Any])


class App:
    """Per-invocation state handed to command functions."""

    def __init__(self, settings: Settings, *, json_output: bool) -> None:
        self.settings = settings
        self.json = json_output
        self.console = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    def emit(self, data: Any, render: Callable[[Console], None]) -> None:
        """Machine output (one JSON document) or human output, never both."""
        if self.json:
            click.echo(mask_dsn(json.dumps(data, indent=2, default=str)))
        else:
            render(self.console)

    def fail(self, exc: ECError) -> NoReturn:
        message, hint = mask_dsn(exc.message), mask_dsn(exc.hint) if exc.hint else None
        if self.json:
            click.echo(json.dumps({"ok": False, "error": message, "hint": hint}, indent=2))
        else:
            self.err.print(f"[bold red]error:[/] {message}", markup=True)
            if hint:
                self.err.print(f"[yellow]hint:[/] {hint}", markup=True)
        if self.settings.verbose:
            self.err.print(mask_dsn(traceback.format_exc()))
        sys.exit(exc.exit_code)


def _configure_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    handler = RichHandler(console=Console(stderr=True), show_path=False, show_time=verbose)
    handler.addFilter(MaskingFilter())
    root = logging.getLogger("expandcontract")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    root.propagate = False


def common_options(fn: F) -> F:
    """Add the shared options and turn ECError into one clear line plus a hint."""

    @shared_options
    @functools.wraps(fn)
    def wrapper(**params: Any) -> Any:
        flags, json_output = pop_shared(params)
        try:
            settings = Settings.load(flags)
        except ECError as exc:
            App(Settings(), json_output=json_output).fail(exc)
        _configure_logging(settings.verbose)
        app = App(settings, json_output=json_output)
        try:
            return fn(app, **params)
        except ECError as exc:
            app.fail(exc)
        except KeyboardInterrupt:
            app.err.print("interrupted; ec resumes from the ledger when re-run")
            sys.exit(130)
        except Exception as exc:  # a bug in ec: say so plainly, no traceback unless -v
            app.fail(
                ECError(
                    f"internal error: {type(exc).__name__}: {exc}",
                    "re-run with -v for the traceback and report it",
                )
            )

    return wrapper  # type: ignore[return-value]


def format_option(*choices: str, default: str = "text") -> Callable[[F], F]:
    """``--format`` for commands with more than two output formats; ``--json`` equals json."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help="Output format (--json is the same as --format json).",
    )


def server_option(fn: F) -> F:
    return click.option(
        "--server",
        type=click.Choice(["auto", "url", "embedded", "local", "container"]),
        default=None,
        help="Where to start a throwaway PostgreSQL (auto: url, embedded, local, container).",
    )(fn)


def exit_failed() -> NoReturn:
    sys.exit(EXIT_FAILED)
