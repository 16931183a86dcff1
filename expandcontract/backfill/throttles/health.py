"""External health probe: the application's own SLO can stop the backfill. An HTTP URL
(2xx = healthy) or a shell command (exit 0 = healthy); errors, timeouts and a probe that
raises count as unhealthy.

Under ``ec apply --health-…`` a :class:`HealthPolicy` is in effect (from the backfill's
settings): the probe runs at most once per ``interval_s`` (the governor samples more often;
in between the last reading stands), each probe is a ``health`` progress event, and with
``give_up_after`` the probe's N-th consecutive failure raises :class:`HealthGaveUp`, which
stops the run like a failure (its checkpoint is kept), so that ``--on-failure rollback``
undoes the migration. Without a policy: pause while failing, no more.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from expandcontract.backfill.errors import BackfillFailed
from expandcontract.backfill.throttles.base import ProbeContext, Reading
from expandcontract.health import CommandProbe, Probe, ProbeResult, UrlProbe, checked
from expandcontract.observe import emit


@dataclasses.dataclass(frozen=True)
class HealthPolicy:
    """How the health signals of the backfills started in this context behave."""

    interval_s: float = 0.0  # at most one probe per interval; 0: on every sample
    give_up_after: int | None = None  # consecutive failures that stop the run; None: never

    def __post_init__(self) -> None:
        if self.give_up_after is not None and self.give_up_after < 1:
            raise ValueError("give_up_after must be at least 1")


def policy_from(interval_s: float, give_up_after: int | None) -> HealthPolicy | None:
    """The policy of these settings; None for a plain pause-while-failing probe."""
    if interval_s <= 0 and give_up_after is None:
        return None
    return HealthPolicy(interval_s=interval_s, give_up_after=give_up_after)


class HealthGaveUp(BackfillFailed):
    """The health probe failed ``give_up_after`` consecutive checks: the run stops."""


@dataclasses.dataclass
class Tracking:
    """A signal's probe policy and its failure count."""

    policy: HealthPolicy | None = None
    failures: int = 0
    last: Reading | None = None
    last_at: float = float("-inf")
    clock: Callable[[], float] = time.monotonic

    def read(self, probe: Probe, reading: Callable[[ProbeResult], Reading]) -> Reading:
        policy = self.policy
        if (
            policy is not None
            and self.last is not None
            and self.clock() - self.last_at < policy.interval_s
        ):
            return self.last
        result = checked(probe)  # a probe that raises is a failing probe
        self.failures = 0 if result.healthy else self.failures + 1
        self.last, self.last_at = reading(result), self.clock()
        if policy is None:
            return self.last
        emit(
            "health",
            stage="backfill",
            probe=probe.kind,
            target=probe.target,
            healthy=result.healthy,
            detail=result.detail,
            status=result.status,
            failures=self.failures,
            of=policy.give_up_after,
        )
        if policy.give_up_after is not None and self.failures >= policy.give_up_after:
            raise HealthGaveUp(
                f"health probe ({probe.kind} {probe.target}) failed {self.failures} "
                f"consecutive check(s) during the backfill: {result.detail}",
                "the backfill stopped; its committed batches are kept",
            )
        return self.last


@dataclasses.dataclass
class HealthUrl:
    url: str
    timeout_s: float = 5.0
    name: str = "health"
    tracking: Tracking = dataclasses.field(default_factory=Tracking)

    def read(self, ctx: ProbeContext) -> Reading:
        probe = UrlProbe(self.url, self.timeout_s)

        def reading(result: ProbeResult) -> Reading:
            detail = f"health probe {probe.target}: {result.detail}"
            value = float(result.status) if result.status is not None else None
            return Reading.ok(detail, value) if result.healthy else Reading.stop(detail, value)

        return self.tracking.read(probe, reading)


@dataclasses.dataclass
class HealthCommand:
    command: str
    timeout_s: float = 5.0
    name: str = "health"
    tracking: Tracking = dataclasses.field(default_factory=Tracking)

    def read(self, ctx: ProbeContext) -> Reading:
        probe = CommandProbe(self.command, self.timeout_s)

        def reading(result: ProbeResult) -> Reading:
            if result.healthy:
                return Reading.ok("health command ok", 0)
            if result.status is None:
                return Reading.stop(f"health command {result.detail}")
            return Reading.stop(f"health command exited {result.detail[5:]}"[:240], result.status)

        return self.tracking.read(probe, reading)
