"""``--metrics-port`` of the migration commands: the engine-wide Prometheus endpoint (see
expandcontract.metrics.engine) served while the command runs."""

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


def metrics_port_option(fn: F) -> F:
    return click.option(
        "--metrics-port",
        "metrics_port",
        type=click.IntRange(0, 65535),
        default=None,
        help="Serve Prometheus metrics of this run on http://127.0.0.1:PORT/metrics while it "
        "runs (0: any free port, printed on stderr).",
    )(fn)


def with_metrics(app: App, engine: Engine, port: int | None) -> Engine:
    """``engine`` itself without a port; else the engine with the registry as one more
    observer, the endpoint serving until the command ends (click closes its context)."""
    if port is None:
        return engine
    from expandcontract.metrics.engine import EngineMetrics

    registry = EngineMetrics()
    try:
        server = registry.serve(port).__enter__()
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on port {port}: {exc.strerror or exc}",
            "choose a free port (0 picks one)",
        ) from None
    click.get_current_context().call_on_close(lambda: server.__exit__(None, None, None))
    app.err.print(f"metrics: {server.url}", markup=False)
    return dataclasses.replace(engine, observer=fanout(engine.observer, registry))
