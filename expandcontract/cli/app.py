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
from rich.markup import escape

from expandcontract.cli.options import pop_shared, shared_options
from expandcontract.config import Settings
from expandcontract.dsn import display_text, user_of
from expandcontract.errors import (
    EXIT_FAILED,
    PRIVILEGES_DOC,
    ECError,
    connection_lost_error,
    privilege_error,
    privilege_hint,
)
from expandcontract.events import HumanEvents, MaskingFilter

F = TypeVar("F", bound=Callable[..., Any])


class App:
    """Per-invocation state handed to command functions."""

    def __init__(self, settings: Settings, *, json_output: bool) -> None:
        self.settings = settings
        self.json = json_output
        # What to do after a failure whose error names no next step (set by the command).
        self.next_action: str | None = None
        # Commands whose --json output is JSON lines (progress events, then a result line):
        # a failure before the work starts is that result line too.
        self.json_lines = False
        # Rich reads "[...]" as markup: user text (names, "[tool.expandcontract]", arr[1]) is
        # printed through rich.markup.escape or with markup=False.
        self.console = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    def emit(self, data: Any, render: Callable[[Console], None]) -> None:
        """Machine output (one JSON document) or human output, never both."""
        if self.json:
            click.echo(display_text(json.dumps(data, indent=2, default=str)))
        else:
            render(self.console)

    def fail(self, exc: ECError) -> NoReturn:
        """One sentence and a hint to act on (``{"ok": false, "error", "hint"}`` with --json);
        ``-v`` adds the traceback."""
        message = display_text(exc.message)
        hint = display_text(exc.hint) if exc.hint else None
        if self.json and self.json_lines:
            result = {"event": "result", "ok": False, "error": message, "hint": hint}
            click.echo(json.dumps(result))
        elif self.json:
            click.echo(json.dumps({"ok": False, "error": message, "hint": hint}, indent=2))
        else:
            self.err.print(f"[bold red]error:[/] {escape(message)}", markup=True)
            if hint:
                lines = escape(hint).splitlines()
                self.err.print(f"[yellow]hint:[/] {lines[0]}", markup=True)
                for line in lines[1:]:
                    self.err.print(f"      {line}", markup=True)
        if self.settings.verbose:
            self.err.print(display_text(traceback.format_exc()), markup=False)
        sys.exit(exc.exit_code)


def _configure_logging(verbose: bool) -> None:
    """``-v``: every statement event as one JSON line. Otherwise only what a user should
    see while ec works (warnings, retries as sentences), never an event dump."""
    handler = logging.StreamHandler(sys.stderr)
    if verbose:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    else:
        handler.setFormatter(_LowercaseLevel("%(levelname)s: %(message)s"))
        handler.addFilter(HumanEvents())
    handler.addFilter(MaskingFilter())
    root = logging.getLogger("expandcontract")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    root.propagate = False


class _LowercaseLevel(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace(record.levelname, record.levelname.lower(), 1)


def user_facing(exc: BaseException, settings: Settings) -> ECError | None:
    """An ECError for a failure the user can cause and fix (a missing privilege, a lost
    connection), from any exception that reaches the command line; None for a bug in ec."""
    role = user_of(settings.database_url) if settings.database_url else None
    if isinstance(exc, ECError):
        # A missing privilege: what to grant comes first, then whatever the error says
        # about the state it left and the command to run next.
        denied = privilege_error(exc, role=role, ledger_schema=settings.ledger_schema)
        grant = denied.hint if denied is not None else None
        denied_text = "[SQLSTATE 42501]" in exc.message or "CONNECT privilege" in exc.message
        if grant is None and exc.hint is None and denied_text:
            grant = privilege_hint(exc.message, role=role, ledger_schema=settings.ledger_schema)
        if grant and PRIVILEGES_DOC not in (exc.hint or ""):
            exc.hint = f"{grant}\n{exc.hint}" if exc.hint else grant
        return exc
    return privilege_error(
        exc, role=role, ledger_schema=settings.ledger_schema
    ) or connection_lost_error(exc)


# Commands whose --json output is JSON lines ending with a result line (cli/progress_view.py).
JSON_LINES_COMMANDS = frozenset({"apply", "complete", "rollback"})


def common_options(fn: F) -> F:
    """Add the shared options and turn ECError into one clear line plus a hint."""

    @shared_options
    @functools.wraps(fn)
    def wrapper(**params: Any) -> Any:
        flags, json_output = pop_shared(params)
        command = click.get_current_context().command.name
        try:
            settings = Settings.load(flags)
        except ECError as exc:
            early = App(Settings(), json_output=json_output)
            early.json_lines = command in JSON_LINES_COMMANDS
            early.fail(exc)
        _configure_logging(settings.verbose)
        app = App(settings, json_output=json_output)
        app.json_lines = command in JSON_LINES_COMMANDS
        try:
            return fn(app, **params)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click reports its own usage errors (exit 2)
        except KeyboardInterrupt:
            app.err.print("interrupted; ec resumes from the ledger when re-run")
            sys.exit(130)
        except Exception as exc:
            known = user_facing(exc, settings)
            if known is None:  # a bug in ec: say so plainly, no traceback unless -v
                known = ECError(
                    f"internal error: {type(exc).__name__}: {exc}",
                    "re-run with -v for the traceback and report it",
                )
            elif known.hint is None and known.exit_code == EXIT_FAILED:
                known.hint = app.next_action
            app.fail(known)

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
