"""Health probes and the watch loop of the health gate (``ec switch --health-cmd|--health-url
--watch``, ``ec apply --health-…``). No database here: the engine decides what to do with a
verdict (switch back, roll back); see expandcontract.engine.health_gate.

A probe is a shell command (exit 0 = healthy) or an HTTP(S) URL (2xx = healthy); a timeout, a
refused connection, a garbled answer, a redirect or a probe that raises counts as unhealthy
(the probes and how their targets are masked: expandcontract.health_probes). Each check keeps
the tail of what the probe said, so the reason recorded for a switch back names it.

    gate = HealthGate(CommandProbe("curl -fsS localhost:8080/ready"), interval_s=5, failures=3)
    verdict = watch(gate, duration_s=300)   # probes every 5 s for 5 minutes
    verdict.passed                           # False after 3 consecutive failures

Progress events (kind ``health``, see expandcontract.observe), by ``stage``:
``before`` (the check before a switch) and ``watch`` (each check of the watch, with
``failures`` consecutive so far, ``of`` allowed, ``check`` number) carry ``probe``, ``target``,
``healthy``, ``detail``, ``status``; ``watching`` (``seconds``, ``interval``) starts a watch;
``verdict`` is the recorded outcome (engine/health_gate.py; ``watching`` while a watch
runs); ``backfill`` is a probe of the backfill's health throttle under ``ec apply
--health-…`` (backfill/throttles/health.py).
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from expandcontract.errors import ConfigError
from expandcontract.health_probes import (
    CommandProbe,
    Probe,
    ProbeResult,
    UrlProbe,
    checked,
    mask_command,
    mask_url,
)
from expandcontract.observe import emit

__all__ = [
    "MAX_DURATION_S",
    "CommandProbe",
    "HealthGate",
    "Probe",
    "ProbeResult",
    "UrlProbe",
    "Verdict",
    "check",
    "checked",
    "mask_command",
    "mask_url",
    "parse_duration",
    "reason",
    "watch",
]

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
    result = checked(gate.probe)
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
    before_check: Callable[[], object] | None = None,
) -> Verdict:
    """Probe every ``gate.interval_s`` for ``duration_s``: ``failed`` at ``gate.failures``
    consecutive failures (at once), ``passed`` when the time is up and the last check was
    healthy, ``interrupted`` on Ctrl-C or when ``stop`` is set. When the time is up while the
    probe is failing, the watch goes on (at the interval) until the probe recovers (passed)
    or fails ``gate.failures`` times in a row: at most that many checks more. Each check is a
    ``health`` event (stage ``watch``) with the consecutive ``failures`` so far, ``of``
    allowed, and the ``check`` number. ``before_check`` runs before each check; what it
    raises ends the watch (the engine re-checks its run lock there)."""
    stop = stop or threading.Event()
    started = clock()
    verdict = Verdict("passed")
    try:
        while True:
            if before_check is not None:
                before_check()
            result = checked(gate.probe)
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
            if left <= 0 and verdict.failures == 0:
                break
            if stop.wait(gate.interval_s if left <= 0 else min(gate.interval_s, left)):
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
