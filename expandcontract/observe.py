"""The engine's progress events: what every phase is doing, as it happens.

One stream for the whole engine, consumed by the terminal progress view, ``--json`` event
lines and the Prometheus endpoint (the health gate reports into it). Events are plain
JSON-ready dicts; every one has ``event`` (its kind) and ``ts`` (unix seconds). The kinds:

- ``migration``: ``name``, ``status`` started | resumed | done | rolled_back
- ``phase``: ``phase`` (expand | backfill | switch | contract | rollback), ``status``
  started | done | failed, ``steps`` (how many), ``error`` when failed
- ``step``: ``phase``, ``number``, ``of``, ``description``, ``lock``, ``status`` started |
  done | skipped (done by an earlier run) | failed, ``duration_ms``, ``attempts``,
  ``lock_wait_ms``, ``error``
- ``statement``: a retry or failure of one statement (lock waits and blockers), as
  :class:`expandcontract.events.StatementEvent` reports it
- ``backfill``: ``table``, ``name`` and ``data``, one event of the backfill engine (``data``
  has its own ``event``: start, batch, throttle, resume, phase, split, retry, ...)
- ``switch``: ``to`` (new | old) and ``schema``, the version made current
- ``health``: emitted by the health gate (see expandcontract.health)

The observer of the running command is a context variable, so the engine's modules emit
without passing it through every call. A failing observer never fails a migration.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

log = logging.getLogger("expandcontract.observe")

Event = dict[str, Any]
Observer = Callable[[Event], None]

current_observer: ContextVar[Observer | None] = ContextVar("ec_observer", default=None)


def emit(kind: str, **fields: Any) -> None:
    """Send one event to the current observer, if any."""
    observer = current_observer.get()
    if observer is not None:
        deliver(observer, {"event": kind, "ts": round(time.time(), 3), **fields})


def deliver(observer: Observer, event: Event) -> None:
    """Hand ``event`` to ``observer``; its errors are logged, never raised into ec's work."""
    try:
        observer(event)
    except Exception:  # an observer is display or telemetry: ec's work goes on
        log.warning("a progress observer failed on %s", event.get("event"), exc_info=True)


@contextlib.contextmanager
def observing(observer: Observer | None) -> Iterator[None]:
    """Make ``observer`` the current observer for the duration (None: keep the current)."""
    if observer is None:
        yield
        return
    token = current_observer.set(observer)
    try:
        yield
    finally:
        current_observer.reset(token)


def fanout(*observers: Observer | None) -> Observer:
    """One observer that hands each event to every given one."""
    active = [o for o in observers if o is not None]

    def each(event: Event) -> None:
        for observer in active:
            deliver(observer, event)

    return each
