"""The probes of the health gate (see expandcontract.health): a shell command (exit 0 =
healthy) or an HTTP(S) URL (2xx = healthy). Whatever goes wrong counts as unhealthy, never as
an exception: a timeout, a refused connection, a garbled answer, a probe that raises
(:func:`checked`). A timeout is a deadline for the whole check, however slowly the probe
answers.

What a probe targets is shown masked (events, the ledger's verdict, ``ec status``, messages):
a URL without its user info and with its query values as ``…``; a command with the values of
``-H``/``--header``, ``-u``/``--user``, ``--oauth2-bearer``, ``--password``, ``--token``,
``Authorization``/``Bearer``/``Basic`` and of ``NAME=value`` words as ``…``, and with any word
of 24 or more token characters (letters, digits, ``_-.+=~``, no ``/``) as ``…``; a command
the shell would not parse is shown as its first word and ``…``.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import http.client
import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from typing import Any, Protocol

from expandcontract.errors import ConfigError

_TAIL = 300  # characters of a probe's output kept for the reason
_DRAIN_S = 0.2  # after a timeout: time to read what the killed probe said
MASK = "…"


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """One check: healthy or not, one line saying why, and the probe's output tail."""

    healthy: bool
    detail: str
    output: str = ""
    status: int | None = None  # the exit code or HTTP status, when there was one
    duration_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Probe(Protocol):
    kind: str  # "command" | "url"

    @property
    def target(self) -> str: ...  # what is probed, safe to show (secrets masked)

    def check(self) -> ProbeResult: ...


def checked(probe: Probe) -> ProbeResult:
    """``probe.check()``, with any exception it raises as an unhealthy result: a probe that
    breaks is a failing probe (Ctrl-C still interrupts)."""
    started = time.monotonic()
    try:
        return probe.check()
    except Exception as exc:
        return ProbeResult(False, f"probe error: {type(exc).__name__}: {exc}"[:240], "", None,
                           _ms(started))  # fmt: skip


@dataclasses.dataclass(frozen=True)
class CommandProbe:
    """A shell command: exit 0 is healthy. Killed after ``timeout_s``."""

    command: str
    timeout_s: float = 5.0
    kind = "command"

    @property
    def target(self) -> str:
        return mask_command(self.command)

    def check(self) -> ProbeResult:
        started = time.monotonic()
        # Its own process group: on a timeout the whole probe goes, including what the shell
        # started (a pipe held open by a grandchild would otherwise outlast the timeout).
        with subprocess.Popen(
            self.command,
            shell=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        ) as proc:
            try:
                out, _ = proc.communicate(timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                out = _drain(proc)
                detail = f"timed out after {self.timeout_s:g}s"
                return ProbeResult(False, detail, _tail(out), None, _ms(started))
            except BaseException:  # Ctrl-C while probing: the probe does not outlive ec
                _kill_group(proc)
                raise
        output = _tail(out or "")
        if proc.returncode == 0:
            return ProbeResult(True, "exit 0", output, 0, _ms(started))
        last = output.splitlines()[-1] if output else ""
        detail = f"exit {proc.returncode}" + (f": {last}" if last else "")
        return ProbeResult(False, detail, output, proc.returncode, _ms(started))


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _drain(proc: subprocess.Popen[str]) -> str:
    """What a killed probe wrote, read for a moment only: a process that left the group
    (``setsid``) may hold the pipe open for long; then the pipe is closed on it."""
    try:
        out, _ = proc.communicate(timeout=_DRAIN_S)
        return out or ""
    except subprocess.TimeoutExpired as again:
        partial = again.output
        if proc.stdout is not None:
            proc.stdout.close()
        if isinstance(partial, bytes):
            return partial.decode("utf-8", "replace")
        return partial or ""


@dataclasses.dataclass(frozen=True)
class UrlProbe:
    """An HTTP(S) GET: a 2xx status is healthy; a redirect, any other status, or no full
    answer within ``timeout_s`` is not. No proxy from the environment, no redirect followed:
    the probe asks the application itself."""

    url: str
    timeout_s: float = 5.0
    kind = "url"

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"the health URL {mask_url(self.url)!r} is not an http:// or https:// URL",
                "give the application's health endpoint, e.g. http://localhost:8080/ready",
            )

    @property
    def target(self) -> str:
        return mask_url(self.url)

    def check(self) -> ProbeResult:
        """The request runs in a thread: past ``timeout_s`` its socket is shut down, which
        ends the thread at once, however slowly the server trickles its answer."""
        started = time.monotonic()
        conn = self._connection()
        answer: list[ProbeResult] = []
        worker = threading.Thread(
            target=lambda: answer.append(self._get(conn, started)),
            name="ec-health-url",
            daemon=True,
        )
        worker.start()
        timed_out = True
        try:
            worker.join(self.timeout_s)
            timed_out = worker.is_alive()
        finally:
            if timed_out:  # or Ctrl-C: the request does not outlive the check
                _abort(conn)
                worker.join(1.0)
        if answer and not timed_out:
            return answer[0]
        detail = f"no answer: timed out after {self.timeout_s:g}s"
        return ProbeResult(False, detail, "", None, _ms(started))

    def _connection(self) -> http.client.HTTPConnection:
        parts = urllib.parse.urlsplit(self.url)
        kind = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        return kind(str(parts.hostname), parts.port, timeout=self.timeout_s)

    def _get(self, conn: http.client.HTTPConnection, started: float) -> ProbeResult:
        parts = urllib.parse.urlsplit(self.url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"User-Agent": "expandcontract-health", "Connection": "close"}
        if parts.username is not None:
            userinfo = f"{urllib.parse.unquote(parts.username)}:"
            userinfo += urllib.parse.unquote(parts.password or "")
            headers["Authorization"] = "Basic " + base64.b64encode(userinfo.encode()).decode()
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            status, body = int(response.status), response.read(_TAIL)
            location = response.getheader("Location")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            detail = f"no answer: {type(exc).__name__}: {exc}"[:240]
            return ProbeResult(False, detail, "", None, _ms(started))
        finally:
            conn.close()
        output = _tail(body.decode("utf-8", "replace"))
        detail = f"HTTP {status}"
        if 300 <= status < 400:
            detail += f" redirect to {mask_url(location)}" if location else " redirect"
        return ProbeResult(200 <= status < 300, detail, output, status, _ms(started))


def _abort(conn: http.client.HTTPConnection) -> None:
    """End a request in progress from another thread: its blocked read returns at once."""
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def mask_url(url: str) -> str:
    """The URL without user info, with each query value as ``…``, without fragment."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return url.split("?", 1)[0].rsplit("@", 1)[-1]
    if ":" in host:  # IPv6
        host = f"[{host}]"
    query = "&".join(
        f"{pair.split('=', 1)[0]}={MASK}" if "=" in pair else pair
        for pair in parts.query.split("&")
        if pair
    )
    return urllib.parse.urlunsplit((parts.scheme, host + port, parts.path, query, ""))


_SECRET_OPTIONS = {"-H", "--header", "-u", "--user", "--oauth2-bearer", "--password", "--token"}
_SECRET_WORDS = {"authorization:", "bearer", "basic", "token"}
_TOKEN = re.compile(r"[A-Za-z0-9_\-.+=~]{24,}")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*=(.+)$", re.DOTALL)


def mask_command(command: str) -> str:
    """The command with the values that may be secrets as ``…`` (see the module docstring)."""
    try:
        words = shlex.split(command)
    except ValueError:
        first = command.split(None, 1)
        return f"{first[0]} {MASK}" if len(first) > 1 else command
    secrets: list[str] = []
    for before, word in zip(["", *words], words, strict=False):
        name, eq, value = word.partition("=")
        if before in _SECRET_OPTIONS or before.lower() in _SECRET_WORDS:
            header, colon, rest = word.partition(":")
            secrets.append(rest.strip() if colon and " " not in header else word)
        elif eq and name in _SECRET_OPTIONS:
            secrets.append(value)
        elif (assignment := _ASSIGNMENT.match(word)) is not None:
            secrets.append(assignment.group(1))
        elif _TOKEN.fullmatch(word) and re.search(r"\d", word) and re.search(r"[A-Za-z]", word):
            secrets.append(word)
        else:  # a secret inside a quoted word: "Authorization: Bearer abc"
            found = re.search(r"(?i)\b(?:bearer|basic|token)\s+(\S+)", word)
            if found is not None:
                secrets.append(found.group(1))
    masked = command
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        masked = masked.replace(secret, MASK)
    return masked


def _tail(text: str) -> str:
    text = text.strip()
    return text[-_TAIL:] if len(text) > _TAIL else text


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
