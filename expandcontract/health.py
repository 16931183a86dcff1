"""Health probes and the watch loop of the health gate (``ec switch --health-cmd|--health-url
--watch``, ``ec apply --health-…``). No database here: the engine decides what to do with a
verdict (switch back, roll back); see expandcontract.engine.health_gate.

A probe is a shell command (exit 0 = healthy) or an HTTP URL (2xx = healthy); a timeout, a
refused connection or any other error counts as unhealthy. Each check keeps the tail of what
the probe said, so the reason recorded for a switch back names it.

    gate = HealthGate(CommandProbe("curl -fsS localhost:8080/ready"), interval_s=5, failures=3)
    verdict = watch(gate, duration_s=300)   # probes every 5 s for 5 minutes
    verdict.passed                           # False after 3 consecutive failures

Progress events (kind ``health``, see expandcontract.observe), by ``stage``:
``before`` (the check before a switch) and ``watch`` (each check of the watch, with
``failures`` consecutive so far, ``of`` allowed, ``check`` number) carry ``probe``, ``target``,
``healthy``, ``detail``, ``status``; ``watching`` (``seconds``, ``interval``) starts a watch;
``verdict`` is the recorded outcome (engine/health_gate.py); ``backfill`` is a probe of the
backfill's health throttle under ``ec apply --health-…`` (backfill/throttles/health.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from expandcontract.dsn import mask_dsn
from expandcontract.errors import ConfigError
from expandcontract.observe import emit

_TAIL = 300  # characters of a probe's output kept for the reason
MIN_DURATION_S = 0.001
MAX_DURATION_S = 24 * 3600.0  # a watch (or an interval) longer than a day is a typo

_DURATION = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str, *, what: str = "duration") -> float:
    """``30s``, ``5m``, ``1h``, ``500ms`` or plain seconds (``90``, ``0.5``) -> seconds, from
    1ms to 24h."""
    match = _DURATION.match(text or "")
    if match is None:
        raise ConfigError(
            f"invalid {what} {text!r}",
            "a number of seconds or a number with a unit: 500ms, 30s, 5m, 1h",
        )
    seconds = float(match.group("number")) * _UNITS[match.group("unit")]
    if not MIN_DURATION_S <= seconds <= MAX_DURATION_S:
        raise ConfigError(
            f"invalid {what} {text!r}: it must be between 1ms and 24h",
            "e.g. 30s, 5m or 1h",
        )
    return seconds


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
    def target(self) -> str: ...  # what is probed, safe to show (passwords masked)

    def check(self) -> ProbeResult: ...


@dataclasses.dataclass(frozen=True)
class CommandProbe:
    """A shell command: exit 0 is healthy. Killed after ``timeout_s``."""

    command: str
    timeout_s: float = 5.0
    kind = "command"

    @property
    def target(self) -> str:
        return self.command

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
                out, _ = proc.communicate()
                detail = f"timed out after {self.timeout_s:g}s"
                return ProbeResult(False, detail, _tail(out or ""), None, _ms(started))
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


@dataclasses.dataclass(frozen=True)
class UrlProbe:
    """An HTTP GET: a 2xx status is healthy. Anything else, or no answer in ``timeout_s``,
    is not."""

    url: str
    timeout_s: float = 5.0
    kind = "url"

    @property
    def target(self) -> str:
        return mask_dsn(self.url)

    def check(self) -> ProbeResult:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout_s) as response:
                status, body = int(response.status), response.read(_TAIL)
        except urllib.error.HTTPError as exc:
            status, body = int(exc.code), exc.read(_TAIL) if exc.fp is not None else b""
        except (OSError, ValueError) as exc:  # refused, timed out, bad URL
            return ProbeResult(False, f"no answer: {exc}", "", None, _ms(started))
        output = _tail(body.decode("utf-8", "replace"))
        return ProbeResult(200 <= status < 300, f"HTTP {status}", output, status, _ms(started))


@dataclasses.dataclass(frozen=True)
class HealthGate:
    """A probe, how often it runs, and how many consecutive failures mean unhealthy."""

    probe: Probe
    interval_s: float = 5.0
    failures: int = 3

    def __post_init__(self) -> None:
        if self.failures < 1:
            raise ConfigError("--health-failures must be at least 1")
        if not 0 < self.interval_s <= MAX_DURATION_S:
            raise ConfigError("--health-interval must be more than 0 and at most 24h")

    def describe(self) -> str:
        return f"{self.probe.kind} {self.probe.target}"


@dataclasses.dataclass
class Verdict:
    """How a watch ended. ``outcome``: passed | failed | interrupted."""

    outcome: str
    checks: int = 0
    failures: int = 0  # consecutive failures at the end
    last: ProbeResult | None = None
    watched_s: float = 0.0

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


def check(gate: HealthGate, *, stage: str) -> ProbeResult:
    """One probe, reported as a ``health`` event."""
    result = gate.probe.check()
    _report(gate, stage, result)
    return result


def _report(gate: HealthGate, stage: str, result: ProbeResult, **extra: Any) -> None:
    emit(
        "health",
        stage=stage,
        probe=gate.probe.kind,
        target=gate.probe.target,
        healthy=result.healthy,
        detail=result.detail,
        status=result.status,
        **extra,
    )


def watch(
    gate: HealthGate,
    duration_s: float,
    *,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Verdict:
    """Probe every ``gate.interval_s`` for ``duration_s``: ``failed`` at ``gate.failures``
    consecutive failures (at once), ``passed`` when the time is up, ``interrupted`` on
    Ctrl-C or when ``stop`` is set. Each check is a ``health`` event (stage ``watch``) with
    the consecutive ``failures`` so far, ``of`` allowed, and the ``check`` number."""
    stop = stop or threading.Event()
    started = clock()
    verdict = Verdict("passed")
    try:
        while True:
            result = gate.probe.check()
            verdict.checks += 1
            verdict.last = result
            verdict.failures = 0 if result.healthy else verdict.failures + 1
            _report(
                gate, "watch", result, failures=verdict.failures, of=gate.failures,
                check=verdict.checks,
            )  # fmt: skip
            if verdict.failures >= gate.failures:
                verdict.outcome = "failed"
                break
            left = duration_s - (clock() - started)
            if left <= 0:
                break
            if stop.wait(min(gate.interval_s, left)):
                verdict.outcome = "interrupted"
                break
    except KeyboardInterrupt:
        verdict.outcome = "interrupted"
    verdict.watched_s = round(clock() - started, 3)
    return verdict


def reason(gate: HealthGate, verdict: Verdict) -> str:
    """One sentence for the ledger and the error: probe, what it said, count, when."""
    last = verdict.last
    said = f"{last.detail}" if last is not None else "no check ran"
    if last is not None and last.output and last.output.splitlines()[-1] not in said:
        said += f" (output: {last.output.splitlines()[-1]})"
    at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"health probe ({gate.describe()}) failed {verdict.failures} consecutive check(s) "
        f"after {verdict.watched_s:g}s of watching, at {at}: {said}"
    )


def _tail(text: str) -> str:
    text = text.strip()
    return text[-_TAIL:] if len(text) > _TAIL else text


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
