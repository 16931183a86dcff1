"""`ec server`: a throwaway PostgreSQL that runs until SIGTERM, then is gone."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import psycopg
import pytest
from click.testing import CliRunner

from expandcontract.cli import cli
from expandcontract.servers.local import find_bindir

START = "from expandcontract.cli import main; main()"


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", START, "server", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def _read_until(process: subprocess.Popen[str], marker: str, limit_s: float = 120) -> str:
    """stdout up to the first line containing ``marker`` (the server prints it once ready)."""
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    seen = ""
    deadline = time.monotonic() + limit_s
    while marker not in seen:
        assert process.poll() is None, f"ec server exited early: {process.stderr.read()}"  # type: ignore[union-attr]
        assert time.monotonic() < deadline, f"no {marker!r} from ec server: {seen!r}"
        if selector.select(timeout=1):
            seen += process.stdout.readline()
    selector.close()
    return seen


def _stop(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    process.send_signal(signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return process.returncode, out, err


def _assert_gone(url: str) -> None:
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    socket_dir = parse_qs(urlparse(url).query).get("host", [None])[0]
    if socket_dir:  # the embedded server's data directory holds its socket
        assert not Path(socket_dir).exists()


def test_server_prints_a_url_serves_it_and_stops_on_sigterm() -> None:
    process = _start("--database", "try_ec")
    try:
        out = _read_until(process, "export EC_DATABASE_URL=")
        url = out.split("export EC_DATABASE_URL='", 1)[1].split("'", 1)[0]
        assert "(embedded) is running" in out
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database(), 6 * 7").fetchone() == ("try_ec", 42)
    finally:
        code, _, err = _stop(process)
    assert code == 0, err
    assert "server stopped; its data is removed" in err
    _assert_gone(url)


def test_server_json_is_one_line_with_the_url() -> None:
    process = _start("--json")
    try:
        line = _read_until(process, "\n")
        data = json.loads(line)
        assert data["ok"] is True and data["server"] == "embedded" and data["database"] == "ec"
        assert data["server_version_num"] >= 140000
        with psycopg.connect(data["url"]) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("ec",)
    finally:
        code, rest, err = _stop(process)
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
    process = _start("--server", "local", "--port", str(port))
    try:
        out = _read_until(process, "export EC_DATABASE_URL=")
        url = out.split("export EC_DATABASE_URL='", 1)[1].split("'", 1)[0]
        assert "(local) is running" in out
        assert parse_qs(urlparse(url).query)["port"] == [str(port)]
        tcp = f"postgresql://postgres@127.0.0.1:{port}/ec"  # and on TCP, for other tools
        with psycopg.connect(tcp) as conn:
            assert conn.execute("SELECT current_setting('port')::int").fetchone() == (port,)
    finally:
        code, _, err = _stop(process)
    assert code == 0, err
    _assert_gone(url)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
