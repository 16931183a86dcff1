"""Probes that misbehave count as failing, never as errors and never for longer than their
timeout: a probe that raises, a garbled HTTP answer, a redirect, a proxy in the environment, a
server that trickles its answer, a command whose grandchild keeps the pipe open. What a probe
targets is shown with its secrets masked."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from expandcontract.backfill.throttles import HealthCommand
from expandcontract.backfill.throttles.base import ProbeContext, Reading
from expandcontract.backfill.throttles.health import HealthPolicy, Tracking
from expandcontract.errors import ConfigError
from expandcontract.health import (
    CommandProbe,
    HealthGate,
    ProbeResult,
    UrlProbe,
    check,
    mask_command,
    mask_url,
    watch,
)
from expandcontract.observe import Event, observing
from tests.health.conftest import OK_ANSWER, RawServer, StatusServer

Serve = Callable[[Callable[[socket.socket, int], None]], RawServer]


class Raising:
    """A probe with a bug: every check raises."""

    kind = "command"
    target = "raising"

    def check(self) -> ProbeResult:
        raise RuntimeError("probe bug")


def test_a_probe_that_raises_is_a_failing_check_everywhere() -> None:
    events: list[Event] = []
    gate = HealthGate(Raising(), interval_s=0.001, failures=2)
    with observing(events.append):
        first = check(gate, stage="before")
        verdict = watch(gate, 60)
    assert not first.healthy and first.detail == "probe error: RuntimeError: probe bug"
    assert (verdict.outcome, verdict.checks, verdict.failures) == ("failed", 2, 2)
    assert verdict.last is not None and "RuntimeError: probe bug" in verdict.last.detail
    assert [e["healthy"] for e in events if e["event"] == "health"] == [False, False, False]
    # The backfill's health throttle: a pause (a stop reading), not a crashed backfill.
    tracking = Tracking(HealthPolicy(interval_s=0.0))

    def reading(result: ProbeResult) -> Reading:
        return Reading.ok("ok") if result.healthy else Reading.stop(result.detail)

    assert tracking.read(Raising(), reading).breached and tracking.failures == 1


@pytest.mark.parametrize("url", ["file:///etc/passwd", "data:,ok", "ftp://x/", "localhost:80"])
def test_only_http_urls_are_probes(url: str) -> None:
    with pytest.raises(ConfigError, match="not an http:// or https:// URL"):
        UrlProbe(url)


def test_a_garbled_http_answer_is_a_failure(raw_server: Serve) -> None:
    server = raw_server(lambda conn, _: conn.sendall(b"garbage\r\n\r\n"))
    result = UrlProbe(server.url, timeout_s=5).check()
    assert not result.healthy and "BadStatusLine" in result.detail
    ok = raw_server(lambda conn, _: conn.sendall(OK_ANSWER))
    assert UrlProbe(ok.url, timeout_s=5).check().healthy


def test_a_redirect_is_not_followed_and_is_a_failure(raw_server: Serve) -> None:
    def answer(conn: socket.socket, _: int) -> None:
        conn.sendall(
            b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/maintenance?key=s3cret\r\n"
            b"Content-Length: 0\r\nConnection: close\r\n\r\n"
        )

    server = raw_server(answer)
    result = UrlProbe(server.url, timeout_s=5).check()
    assert not result.healthy and result.status == 302
    assert result.detail == "HTTP 302 redirect to http://127.0.0.1:9/maintenance?key=…"


def test_a_proxy_in_the_environment_is_not_used(
    status_server: StatusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    result = UrlProbe(status_server.url, timeout_s=5).check()
    assert result.healthy and status_server.hits == 1


def test_a_trickling_server_hits_the_timeout(raw_server: Serve) -> None:
    def trickle(conn: socket.socket, _: int) -> None:
        for byte in OK_ANSWER:  # one byte every 0.3 s: each read is quicker than the timeout
            if server.closing.wait(0.3):
                return
            conn.sendall(bytes([byte]))

    server = raw_server(trickle)
    result = UrlProbe(server.url, timeout_s=0.5).check()
    assert not result.healthy and result.detail == "no answer: timed out after 0.5s"
    assert not [t for t in threading.enumerate() if t.name == "ec-health-url"]


def test_a_command_timeout_is_a_deadline_even_with_a_grandchild_holding_the_pipe(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "pid"
    # setsid: the sleeper leaves the probe's process group (the kill misses it) and keeps
    # the probe's stdout open for 5 s.
    probe = CommandProbe(f"setsid sleep 5 & echo $! > {pid_file}; wait", timeout_s=0.5)
    result = probe.check()
    sleeper = int(pid_file.read_text())
    try:
        still_running = Path(f"/proc/{sleeper}").exists()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(sleeper, signal.SIGKILL)
    assert still_running, "check() returned before the sleeper ended, not after it"
    assert not result.healthy and result.detail == "timed out after 0.5s"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:pw@app:8080/ready?token=abc&x=1#f", "http://app:8080/ready?token=…&x=…"),
        ("https://app/ready", "https://app/ready"),
        ("http://[::1]:81/r?flag", "http://[::1]:81/r?flag"),
    ],
)
def test_urls_are_shown_without_secrets(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert UrlProbe(url).target == shown


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (
            "curl -fsS -H 'Authorization: Bearer eyJhbGciOi.J9' http://app/ready",
            "curl -fsS -H 'Authorization: …' http://app/ready",
        ),
        ("curl -u admin:hunter2 http://app/", "curl -u admin:… http://app/"),
        ("curl --header=X-Key:abc http://app/", "curl --header=… http://app/"),
        ("TOKEN=abc123 ./check.sh", "TOKEN=… ./check.sh"),
        ("check --key 0123456789abcdefABCDEF0123", "check --key …"),
        ("test -f /tmp/some/long/path/to/a/healthy_flag_file", None),
        ("echo 'unbalanced", "echo …"),
    ],
)
def test_commands_are_shown_without_secrets(command: str, shown: str | None) -> None:
    assert mask_command(command) == (command if shown is None else shown)
    assert CommandProbe(command).target == mask_command(command)


def test_the_backfill_throttle_names_the_masked_command(tmp_path: Path) -> None:
    signal_ = HealthCommand("TOKEN=s3cret false", tracking=Tracking(HealthPolicy(0.0, 1)))
    ctx = ProbeContext(conn=None, table_oid=0, application_name="t")  # type: ignore[arg-type]
    with pytest.raises(Exception) as raised:
        signal_.read(ctx)
    assert "TOKEN=… false" in str(raised.value) and "s3cret" not in str(raised.value)
