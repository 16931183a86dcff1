"""The progress of a migration command as it runs (``ec apply``, ``ec complete``,
``ec rollback``): live on a terminal, plain lines in logs, JSON lines with ``--json``.

With ``--json`` stdout is JSON lines: the engine's events (a backfill's batches condensed into
``progress`` snapshots) and, always last, ``{"event": "result", "ok": true, ...}`` or, on
failure, ``{"event": "result", "ok": false, "error": ..., "hint": ...}``."""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import click

from expandcontract.cli.app import App, user_facing
from expandcontract.cli.engine_cmd import render_summary
from expandcontract.dsn import display_text
from expandcontract.engine.api import Engine
from expandcontract.errors import EXIT_FAILED, ECError
from expandcontract.observe import fanout
from expandcontract.progress import JsonLinesView, PlainView, TerminalView

Work = Callable[[Engine], dict[str, Any]]


def run_with_progress(app: App, engine: Engine, work: Work) -> dict[str, Any]:
    """Run ``work(engine)`` with its progress shown, then its result (the summary on
    stdout, or the JSON ``result`` line)."""
    if app.json:
        return _as_json_lines(app, engine, work)
    with shown(app, engine):
        data = work(engine)
    render_summary(app.console, data)
    return data


@contextlib.contextmanager
def shown(app: App, engine: Engine) -> Iterator[None]:
    """Show the engine's progress on stderr for the duration (nothing with ``--json``: a
    command that prints one JSON document keeps it the only output), e.g. for ``ec switch``:
    ``with shown(app, engine): data = engine.switch()``."""
    if app.json:
        yield
        return
    view = TerminalView(app.err) if app.err.is_terminal else PlainView(app.err)
    engine.observer = fanout(engine.observer, view)  # keeps any other observer (metrics)
    with view, _warnings_above(view):  # a live display ends before an error is printed
        yield


@contextlib.contextmanager
def _warnings_above(view: object) -> Iterator[None]:
    """While a live display runs, ec's warnings (a retried step, its blocker) are printed
    above it instead of through it: the log handlers write to the stderr the display wraps."""
    handlers = [
        h for h in logging.getLogger("expandcontract").handlers
        if isinstance(h, logging.StreamHandler) and h.stream is sys.__stderr__
    ]  # fmt: skip
    if not isinstance(view, TerminalView) or not handlers:
        yield
        return
    for handler in handlers:
        handler.setStream(sys.stderr)
    try:
        yield
    finally:
        for handler in handlers:
            handler.setStream(sys.__stderr__)


def _as_json_lines(app: App, engine: Engine, work: Work) -> dict[str, Any]:
    view = JsonLinesView(click.echo)
    engine.observer = fanout(engine.observer, view)
    try:
        data = work(engine)
    except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
        raise
    except KeyboardInterrupt:
        resume = "ec resumes from the ledger when re-run"
        view.result({"ok": False, "error": "interrupted", "hint": resume})
        raise
    except Exception as exc:
        # The stream stays JSON lines to the end: the failure is its last line.
        known = _explained(app, exc)
        message = display_text(known.message)
        hint = display_text(known.hint) if known.hint else None
        view.result({"ok": False, "error": message, "hint": hint})
        if app.settings.verbose:
            app.err.print(display_text(traceback.format_exc()), markup=False)
        sys.exit(known.exit_code)
    view.result({"ok": True, **data})
    return data


def _explained(app: App, exc: Exception) -> ECError:
    """What ``common_options`` makes of a failure: the user's error with its hint (or the next
    command), or an internal error."""
    known = user_facing(exc, app.settings)
    if known is None:
        return ECError(
            f"internal error: {type(exc).__name__}: {exc}",
            "re-run with -v for the traceback and report it",
        )
    if known.hint is None and known.exit_code == EXIT_FAILED:
        known.hint = app.next_action
    return known
