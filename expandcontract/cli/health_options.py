"""The ``--health-…`` options of ``ec switch`` and ``ec apply``, declared once: they arrive in
the command as one ``health`` argument (a HealthGate, or None without a probe)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from expandcontract.errors import ConfigError
from expandcontract.health import CommandProbe, HealthGate, UrlProbe, parse_duration

F = TypeVar("F", bound=Callable[..., Any])


class Duration(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2 on
    """``500ms``, ``30s``, ``5m``, ``1h`` or plain seconds, as seconds (more than 0, at most
    24h); anything else is a usage error naming the option."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        what = param.opts[-1] if param is not None and param.opts else "duration"
        try:
            return parse_duration(str(value), what=what)
        except ConfigError as exc:
            self.fail(f"{exc.message} ({exc.hint})" if exc.hint else exc.message, param, ctx)


DURATION = Duration()

_OPTIONS = [
    click.option(
        "--health-cmd",
        "health_cmd",
        metavar="CMD",
        help="Health probe: a shell command, healthy when it exits 0.",
    ),
    click.option(
        "--health-url",
        "health_url",
        metavar="URL",
        help="Health probe: an http(s) URL, healthy on a 2xx answer (redirects are not "
        "followed and count as failures; no proxy).",
    ),
    click.option(
        "--health-interval",
        "health_interval",
        type=DURATION,
        default="5s",
        show_default=True,
        help="Time between probes.",
    ),
    click.option(
        "--health-failures",
        "health_failures",
        type=click.IntRange(min=1, max=1000),
        default=3,
        show_default=True,
        help="Consecutive failed probes that mean unhealthy.",
    ),
    click.option(
        "--health-timeout",
        "health_timeout",
        type=DURATION,
        default="5s",
        show_default=True,
        help="Time one probe may take; longer counts as a failure.",
    ),
]


def health_options(fn: F) -> F:
    """Add the options; the command receives ``health`` (HealthGate | None) instead."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **params: Any) -> Any:
        command, url = params.pop("health_cmd"), params.pop("health_url")
        interval, failures = params.pop("health_interval"), params.pop("health_failures")
        timeout = params.pop("health_timeout")
        params["health"] = health_gate(command, url, interval, failures, timeout)
        return fn(*args, **params)

    for option in reversed(_OPTIONS):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


def health_gate(
    command: str | None, url: str | None, interval_s: float, failures: int, timeout_s: float
) -> HealthGate | None:
    """The HealthGate of the options, or None when no probe is given."""
    if command and url:
        raise click.UsageError("give --health-cmd or --health-url, not both")
    if not command and not url:
        return None
    try:
        probe = CommandProbe(command, timeout_s) if command else UrlProbe(str(url), timeout_s)
    except ConfigError as exc:  # e.g. a file:// URL
        raise click.UsageError(f"{exc.message} ({exc.hint})" if exc.hint else exc.message) from exc
    return HealthGate(probe, interval_s=interval_s, failures=failures)


def announce_backfill_gate(app: Any, health: HealthGate | None, on_failure: str) -> None:
    """``ec apply --health-…``: say up front what a failing probe will do (on stderr)."""
    if health is None or app.json:
        return
    then = (
        f"after {health.failures} consecutive failures the backfill stops and the migration "
        "is rolled back (--on-failure rollback)"
        if on_failure == "rollback"
        else "it waits for the probe to recover (--on-failure rollback gives up and rolls "
        f"back after {health.failures} consecutive failures)"
    )
    app.err.print(
        f"health probe {health.describe()}: the backfill pauses while it fails; {then}",
        markup=False,
    )
