"""What the health gate tests share: a small seeded table, a migration that renames a column
and makes another NOT NULL, an engine with fast backfill tuning, probes that flip."""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from expandcontract.backfill import BackfillSettings
from expandcontract.config import Settings
from expandcontract.engine.api import Engine
from expandcontract.engine.backfill import table_backfill
from expandcontract.engine.migration import Migration, from_spec
from expandcontract.observe import Observer
from expandcontract.pytest_plugin import EcDatabase

ROWS = 600
CHANGE = [
    {"rename_column": {"table": "users", "from": "email", "to": "email_address"}},
    {
        "alter_column": {
            "table": "users",
            "column": "nickname",
            "nullable": False,
            "up": "coalesce(nickname, 'anon')",
        }
    },
]
NEW_SCHEMA = "public_h1"
# Small batches and quick throttle checks: a backfill of several batches in well under a second.
FAST = BackfillSettings(
    batch_start_rows=50,
    batch_max_rows=50,
    batch_min_rows=10,
    check_interval_s=0.01,
    backoff_min_s=0.01,
    backoff_max_s=0.05,
    pause_on_autovacuum="off",
    active_sessions_factor=None,
    max_dead_tuple_ratio=None,
)


def migration() -> Migration:
    return from_spec({"operations": CHANGE}, default_name="h1")


def engine(url: str, observer: Observer | None = None) -> Engine:
    settings = Settings()
    backfill = table_backfill(url, settings, tuning=FAST)
    return Engine(url, settings, backfill=backfill, sink=None, observer=observer)


@pytest.fixture
def users(ec_db: EcDatabase) -> EcDatabase:
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE users (id bigint PRIMARY KEY, email text, nickname text)")
        conn.execute(
            "INSERT INTO users SELECT g, 'u' || g || '@x.org',"
            " CASE WHEN g % 3 = 0 THEN NULL ELSE 'nick' || g END"
            f" FROM generate_series(1, {ROWS}) g"
        )
        conn.execute("ANALYZE users")
    return ec_db


@pytest.fixture
def expanded(users: EcDatabase) -> EcDatabase:
    """The migration applied through its backfill: both versions live, the old one current."""
    engine(users.url).apply(migration())
    return users


@pytest.fixture
def flag(tmp_path: Path) -> Path:
    """`test -f <flag>` is the probe: healthy while the file exists."""
    path = tmp_path / "healthy"
    path.touch()
    return path


@dataclasses.dataclass
class StatusServer:
    """A local HTTP endpoint whose answer the test sets (``code``)."""

    url: str
    code: int = 200
    hits: int = 0


@pytest.fixture
def status_server() -> Iterator[StatusServer]:
    state = StatusServer("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits += 1
            body = f"status {state.code}".encode()
            self.send_response(state.code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/ready"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def current_schema(eng: Engine) -> str:
    return str(eng.status()["current_schema"])


class RawServer:
    """A TCP server on localhost whose every connection ``answer`` serves (request read
    first): for answers no HTTP server would give (garbage, a trickle). ``hits`` counts them."""

    def __init__(self, answer: Callable[[socket.socket, int], None]) -> None:
        self.answer = answer
        self.hits = 0
        self.closing = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/ready"
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.hits += 1
            worker = threading.Thread(target=self._serve, args=(conn, self.hits), daemon=True)
            self.threads.append(worker)
            worker.start()

    def _serve(self, conn: socket.socket, hit: int) -> None:
        with conn, contextlib.suppress(OSError):
            conn.recv(4096)
            self.answer(conn, hit)

    def close(self) -> None:
        self.closing.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        for thread in list(self.threads):
            thread.join(timeout=10)


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket, int], None]], RawServer]]:
    servers: list[RawServer] = []

    def start(answer: Callable[[socket.socket, int], None]) -> RawServer:
        servers.append(RawServer(answer))
        return servers[-1]

    try:
        yield start
    finally:
        for server in servers:
            server.close()


OK_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
