"""``ec server``: a throwaway PostgreSQL to try ec (and the docs' examples) on, without
installing one. It runs until Ctrl-C or SIGTERM, then stops and removes all its data."""

from __future__ import annotations

import inspect
import json
import signal
import sys
import threading
from types import FrameType

import click

from expandcontract.cli.app import App
from expandcontract.config import Settings
from expandcontract.dsn import to_psycopg
from expandcontract.errors import ConfigError, ECError
from expandcontract.servers import PROVIDERS, PostgresServer, start_server

KINDS = ("embedded", "local", "container", "auto")
AUTO_ORDER = ("embedded", "local", "container")  # never "url": that server is not throwaway
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

# Why a provider cannot listen on a port of the user's choosing (local can: --server local).
NO_PORT = {
    "embedded": "the embedded server listens on a Unix socket only, not on a TCP port",
    "container": "the container's port is mapped to a free host port by Docker",
}


@click.command()
@click.option(
    "--server",
    "kind",
    type=click.Choice(KINDS),
    default="embedded",
    show_default=True,
    help="Which throwaway PostgreSQL to start (auto: embedded, local, then container).",
)
@click.option("--port", type=click.IntRange(1, 65535), help="TCP port, where the kind allows it.")
@click.option("--database", default="ec", show_default=True, help="Database to create.")
@click.option("--json", "json_output", is_flag=True, help="Print {url, ...} as one JSON line.")
def server(kind: str, port: int | None, database: str, json_output: bool) -> None:
    """Start a throwaway PostgreSQL server and keep it running, printing its URL.

    Ctrl-C (or SIGTERM) stops it and removes all its data.
    """
    app = App(Settings(), json_output=json_output)
    stop = _stop_on_signals()
    try:
        running = _start(kind, port)
    except ECError as exc:
        app.fail(exc)
    try:
        url = running.create_database(database)
        _announce(app, running, database, to_psycopg(url))
        while not stop.wait(0.5):
            pass
    except ECError as exc:
        app.fail(exc)
    finally:
        running.stop()
    if not json_output:
        app.err.print("server stopped; its data is removed", markup=False)


def _start(kind: str, port: int | None) -> PostgresServer:
    if port is None:
        return start_server(kind, order=AUTO_ORDER)
    kinds = AUTO_ORDER if kind == "auto" else (kind,)
    for name in kinds:
        provider = PROVIDERS[name]
        if "port" in inspect.signature(provider).parameters and not provider.unavailable_reason():
            return provider(port=port).start()  # type: ignore[call-arg]
    reasons = "; ".join(NO_PORT.get(name, f"{name} takes no port") for name in kinds)
    raise ConfigError(
        f"--port {port} is not supported: {reasons}",
        "`--server local --port N` listens on N; or leave --port out and use the URL ec "
        "server prints",
    )


def _announce(app: App, running: PostgresServer, database: str, url: str) -> None:
    version = running.server_version_num
    data = {
        "ok": True,
        "url": url,
        "database": database,
        "server": running.kind,
        "server_version_num": version,
    }
    if app.json:
        click.echo(json.dumps(data))
    else:
        major = version // 10000
        app.console.print(
            f"PostgreSQL {major} ({running.kind}) is running; database {database!r} is ready.",
            markup=False,
        )
        app.console.print(f"\n  export EC_DATABASE_URL='{url}'\n", markup=False, soft_wrap=True)
        app.console.print(
            "Then try: ec status, ec plan <migration.yaml>, ec apply <migration.yaml>.\n"
            "Ctrl-C stops the server and removes all its data (it is throwaway).",
            markup=False,
        )
    sys.stdout.flush()  # a reader on a pipe needs the URL now, not when ec exits


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)
    return stop
