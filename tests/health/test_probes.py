"""The health library without a database: durations at both ends of the accepted range,
probes (output tail, timeouts that end what the probe started), the watch loop's count of
consecutive failures on a clock the test controls."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from expandcontract.errors import ConfigError
from expandcontract.health import (
    MAX_DURATION_S,
    CommandProbe,
    HealthGate,
    ProbeResult,
    UrlProbe,
    parse_duration,
    watch,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1ms", 0.001),  # the shortest accepted
        ("0.001", 0.001),
        ("0.5", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("90", 90.0),
        ("24h", MAX_DURATION_S),  # the longest accepted
        ("86400", MAX_DURATION_S),
    ],
)
def test_durations_accepted(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "0", "0s", "0.9ms", "86401", "24.01h", "-5s", "1d", "m"])
def test_durations_rejected(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)


def test_probes_keep_the_output_tail_and_time_out(tmp_path: Path) -> None:
    failed = CommandProbe("echo starting; echo 'db pool exhausted' >&2; exit 3").check()
    assert not failed.healthy and failed.status == 3
    assert failed.detail == "exit 3: db pool exhausted" and "starting" in failed.output
    slow = CommandProbe("sleep 5", timeout_s=0.1).check()
    assert not slow.healthy and slow.detail == "timed out after 0.1s" and slow.status is None
    assert CommandProbe("true").check().healthy


def test_a_probe_that_times_out_is_killed_with_what_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    # The shell starts a child, then waits for it: the timeout ends both.
    command = f"sleep 30 > /dev/null 2>&1 & echo $! > {pid_file}; wait"
    slow = CommandProbe(command, timeout_s=1.0).check()  # time for the shell to start it
    assert not slow.healthy and slow.detail == "timed out after 1s"
    child = Path(f"/proc/{pid_file.read_text().strip()}/stat")

    def ended() -> bool:  # gone, or a zombie waiting to be reaped: not running any more
        try:
            return child.read_text().split(") ")[1].startswith(("Z", "X"))
        except (FileNotFoundError, ProcessLookupError):
            return True

    # SIGKILL is delivered asynchronously: give the kernel a moment, never 30 s.
    deadline = time.monotonic() + 10
    while not ended() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ended()
    refused = UrlProbe("http://127.0.0.1:9/ready", timeout_s=1).check()
    assert not refused.healthy and refused.detail.startswith("no answer")


class Scripted:
    """A probe that answers from a script, on a clock the test controls."""

    kind = "command"
    target = "scripted"

    def __init__(self, answers: list[bool], clock: list[float]) -> None:
        self.answers, self.clock = answers, clock

    def check(self) -> ProbeResult:
        self.clock[0] += 1.0  # each check takes one (fake) second
        healthy = self.answers.pop(0) if self.answers else True
        return ProbeResult(healthy, "exit 0" if healthy else "exit 1", "", 0 if healthy else 1)


class FakeStop(threading.Event):
    def __init__(self, clock: list[float]) -> None:
        super().__init__()
        self.clock = clock

    def wait(self, timeout: float | None = None) -> bool:
        self.clock[0] += timeout or 0.0
        return False


@pytest.mark.parametrize(
    ("answers", "outcome", "checks"),
    [
        ([True, False, False, True, False, False], "passed", 10),  # N-1 failures, twice
        ([True, False, False, False], "failed", 4),  # N failures: at once
        ([False, False, False], "failed", 3),
    ],
)
def test_the_watch_counts_consecutive_failures(
    answers: list[bool], outcome: str, checks: int
) -> None:
    clock = [0.0]
    gate = HealthGate(Scripted(answers, clock), interval_s=1.0, failures=3)
    verdict = watch(gate, 19.0, stop=FakeStop(clock), clock=lambda: clock[0])
    assert (verdict.outcome, verdict.checks) == (outcome, checks)
    assert verdict.failures == (3 if outcome == "failed" else 0)


@pytest.mark.parametrize(
    ("answers", "outcome", "checks", "failures"),
    [
        # Time is up (at check 3) while failing: it goes on until the probe recovers...
        ([True, True, False, False, True], "passed", 5, 0),
        ([True, True, False, True], "passed", 4, 0),
        # ... or fails the allowed consecutive checks: at most that many checks more.
        ([True, True, False, False, False], "failed", 5, 3),
        ([True, True, True], "passed", 3, 0),  # healthy when the time is up: done
    ],
)
def test_time_up_while_failing_is_no_pass(
    answers: list[bool], outcome: str, checks: int, failures: int
) -> None:
    clock = [0.0]
    gate = HealthGate(Scripted(answers, clock), interval_s=1.0, failures=3)
    # Checks end at 1, 3, 5 (fake) seconds: the 5 s watch is up after the third.
    verdict = watch(gate, 5.0, stop=FakeStop(clock), clock=lambda: clock[0])
    assert (verdict.outcome, verdict.checks, verdict.failures) == (outcome, checks, failures)
