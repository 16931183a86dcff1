"""`ec server`: a throwaway PostgreSQL that runs until SIGTERM, then is gone."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, urlparse

import psycopg
import pytest
from click.testing import CliRunner

from expandcontract.cli import cli
from expandcontract.servers.local import find_bindir

START = "from expandcontract.cli import main; main()"


class Served:
    """An `ec server` process whose output threads read line by line into queues: a reader
    never waits on a pipe the server has already drained into a buffer."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", START, "server", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()  # stdout; None at its end
        self.errors: list[str | None] = []  # None at its end
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            threading.Thread(
                target=self._read, args=(self.process.stdout, self.lines.put), daemon=True
            ),
            threading.Thread(
                target=self._read, args=(self.process.stderr, self.errors.append), daemon=True
            ),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: IO[str], keep: Callable[[str | None], None]) -> None:
        for line in stream:
            keep(line)
        keep(None)

    def read_until(self, marker: str, limit_s: float = 120) -> str:
        """stdout up to the first line containing ``marker`` (the server prints it once ready)."""
        seen = ""
        deadline = time.monotonic() + limit_s
        while marker not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {marker!r} from ec server: {seen!r}"
            try:
                line = self.lines.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            assert line is not None, f"ec server exited early: {self.stderr()}"
            seen += line
        return seen

    def stderr(self) -> str:
        return "".join(line for line in self.errors if line is not None)

    def stop(self) -> tuple[int, str, str]:
        """SIGTERM, then the exit code, the rest of stdout and all of stderr."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            for reader in self._readers:
                reader.join(timeout=10)
        rest = "".join(iter(self.lines.get_nowait, None))  # the readers ended: None is queued
        return self.process.returncode, rest, self.stderr()


def _assert_gone(url: str) -> None:
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    socket_dir = parse_qs(urlparse(url).query).get("host", [None])[0]
    if socket_dir:  # the embedded server's data directory holds its socket
        assert not Path(socket_dir).exists()


def test_server_prints_a_url_serves_it_and_stops_on_sigterm() -> None:
    server = Served("--database", "try_ec")
    try:
        out = server.read_until("export EC_DATABASE_URL=")
        url = out.split("export EC_DATABASE_URL='", 1)[1].split("'", 1)[0]
        assert "(embedded) is running" in out
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database(), 6 * 7").fetchone() == ("try_ec", 42)
    finally:
        code, _, err = server.stop()
    assert code == 0, err
    assert "server stopped; its data is removed" in err
    _assert_gone(url)


def test_server_json_is_one_line_with_the_url() -> None:
    server = Served("--json")
    try:
        line = server.read_until("\n")
        data = json.loads(line)
        assert data["ok"] is True and data["server"] == "embedded" and data["database"] == "ec"
        assert data["server_version_num"] >= 140000
        with psycopg.connect(data["url"]) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("ec",)
    finally:
        code, rest, err = server.stop()
    assert code == 0, err
    assert rest == ""  # the JSON line is all it prints
    _assert_gone(data["url"])


def test_port_is_refused_where_the_server_cannot_take_one() -> None:
    result = CliRunner().invoke(cli, ["server", "--port", "54329"])
    assert result.exit_code == 2
    assert "--port 54329 is not supported" in result.output
    assert "Unix socket only" in result.output
    assert "--server local" in result.output  # the kind that can


@pytest.mark.skipif(find_bindir() is None, reason="no PostgreSQL binaries on this machine")
def test_local_server_listens_on_the_port_asked_for() -> None:
    port = _free_port()
    server = Served("--server", "local", "--port", str(port))
    try:
        out = server.read_until("export EC_DATABASE_URL=")
        url = out.split("export EC_DATABASE_URL='", 1)[1].split("'", 1)[0]
        assert "(local) is running" in out
        assert parse_qs(urlparse(url).query)["port"] == [str(port)]
        tcp = f"postgresql://postgres@127.0.0.1:{port}/ec"  # and on TCP, for other tools
        with psycopg.connect(tcp) as conn:
            assert conn.execute("SELECT current_setting('port')::int").fetchone() == (port,)
    finally:
        code, _, err = server.stop()
    assert code == 0, err
    _assert_gone(url)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
