"""``--metrics-port`` (and ``--metrics-host``) of the migration commands: the engine-wide
Prometheus endpoint (see expandcontract.metrics.engine) served while the command runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import click

from expandcontract.cli.app import App
from expandcontract.engine.api import Engine
from expandcontract.errors import ConfigError
from expandcontract.observe import fanout

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_HOST = "127.0.0.1"
_HOST_KEY = "expandcontract.metrics_host"  # where --metrics-host waits for with_metrics


def _remember_host(ctx: click.Context, param: click.Parameter, value: str) -> str:
    ctx.meta[_HOST_KEY] = value
    return value


def metrics_port_option(fn: F) -> F:
    """``--metrics-port`` and ``--metrics-host``; only the port reaches the command's
    function (``metrics_port``): ``with_metrics`` finds the host in click's context."""
    fn = click.option(
        "--metrics-host",
        type=str,
        default=DEFAULT_HOST,
        show_default=True,
        expose_value=False,
        callback=_remember_host,
        help="Address the --metrics-port endpoint listens on: 0.0.0.0 lets Prometheus on "
        "another host or pod scrape it.",
    )(fn)
    return click.option(
        "--metrics-port",
        "metrics_port",
        type=click.IntRange(0, 65535),
        default=None,
        help="Serve Prometheus metrics of this run on http://HOST:PORT/metrics while it runs "
        "(0: any free port, printed on stderr).",
    )(fn)


def with_metrics(app: App, engine: Engine, port: int | None) -> Engine:
    """``engine`` itself without a port; else the engine with the registry as one more
    observer, the endpoint serving until the command ends (click closes its context)."""
    if port is None:
        return engine
    from expandcontract.metrics.engine import EngineMetrics

    context = click.get_current_context()
    host = str(context.meta.get(_HOST_KEY) or DEFAULT_HOST)
    registry = EngineMetrics()
    try:
        server = registry.serve(port, host).__enter__()
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on port {port} ({host}): {exc.strerror or exc}",
            "choose a free port (0 picks one) and an address of this host",
        ) from None
    context.call_on_close(lambda: server.__exit__(None, None, None))
    app.err.print(f"metrics: {server.url}", markup=False)
    return dataclasses.replace(engine, observer=fanout(engine.observer, registry))
