"""The health-gated switch: probe, switch to the new version, watch, and switch back on its
own when the probe keeps failing.

The whole watch runs under ec's run lock (the caller holds it): no ``ec complete`` can
contract while the new version is on trial, so a switch back is always possible, and a
concurrent command fails at once naming this one. Before each check the watch makes sure it
still holds the lock: if the lock's session ended (a server restart, a terminated backend) it
takes the lock again when no other run held it meanwhile; otherwise the watch stops
(:class:`WatchLockLost`, exit 1) and leaves the new version current without switching back,
since another ec run may own the database now.

Each verdict is recorded in the ledger's ``meta`` table (``health:<migration id>``, JSON):
``watching`` as the watch starts (what a killed watch leaves behind), then its outcome, and,
for a switch back, the switch phase ``failed`` with the reason, which ``ec status`` shows. A
migration that starts (or starts again after a rollback) has no verdict (:func:`forget`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from expandcontract import health
from expandcontract.engine.backfill import current_run
from expandcontract.errors import ECError
from expandcontract.ledger import Ledger, MigrationRecord
from expandcontract.ledger.lock import RunLockLost
from expandcontract.observe import emit
from expandcontract.runner import SafeRunner


class UnhealthyBeforeSwitch(ECError):
    """The probe failed before the switch: nothing was switched."""


class SwitchedBack(ECError):
    """The probe kept failing during the watch: the old version is current again."""


class WatchInterrupted(ECError):
    """Ctrl-C during the watch: the new version stays current, unwatched."""

    exit_code = 130


class WatchLockLost(ECError):
    """The watch lost ec's run lock to another run: it stopped, the new version current."""


def switch_watched(
    runner: SafeRunner,
    ledger: Ledger,
    record: MigrationRecord,
    gate: health.HealthGate,
    watch_s: float,
    *,
    switch: Callable[[], object],
    switch_back: Callable[[], object],
) -> dict[str, Any]:
    """Probe once, switch, watch for ``watch_s``; returns the recorded verdict when the watch
    passes and raises (after recording) otherwise."""
    first = health.check(gate, stage="before")
    if not first.healthy:
        before = health.Verdict("failed", checks=1, failures=1, last=first)
        why = f"health probe ({gate.describe()}) fails before the switch: {first.detail}"
        record_verdict(runner, ledger, record, "not_switched", gate, before, why)
        raise UnhealthyBeforeSwitch(
            f"{why}; not switched, the old version stays current",
            "fix what the probe checks (or the probe), then run `ec switch` again",
        )
    switch()
    record_verdict(runner, ledger, record, "watching", gate, health.Verdict("watching"), None)
    emit("health", stage="watching", seconds=watch_s, interval=gate.interval_s)
    run = current_run.get()
    keep_lock = (lambda: run.check("the next health check")) if run is not None else None
    try:
        verdict = health.watch(gate, watch_s, before_check=keep_lock)
    except RunLockLost as lost:  # no write, no switch back: the database may be another run's
        raise WatchLockLost(
            f"the health watch stopped: {lost.message}; another ec run may own the database "
            "now, so nothing was switched back: the new version stays current, unwatched",
            "check with `ec status` which ec run works on this database; once none does, "
            "`ec switch --back` makes the old version current again if needed",
        ) from lost
    if verdict.outcome == "passed":
        return record_verdict(runner, ledger, record, "passed", gate, verdict, None)
    if verdict.outcome == "interrupted":
        record_verdict(runner, ledger, record, "interrupted", gate, verdict, None)
        raise WatchInterrupted(
            f"the health watch was interrupted after {verdict.watched_s:g}s "
            f"({verdict.checks} check(s)): the new version stays current, unwatched",
            "`ec switch --back` makes the old version current again",
        )
    why = health.reason(gate, verdict)
    try:
        switch_back()  # the checks and the path of `ec switch --back`
    except ECError as exc:  # e.g. the run lock was lost meanwhile: a person must act
        raise ECError(
            f"{why}; switching back failed: {exc.message} - the new version is still current",
            "make the old version current with `ec switch --back`",
        ) from exc
    ledger.set_phase(record.id, "switch", "failed", error=f"switched back automatically: {why}")
    record_verdict(runner, ledger, record, "switched_back", gate, verdict, why)
    raise SwitchedBack(
        f"switched back to the old version automatically: {why}",
        "the old version is current (`ec status` shows why); fix the cause, then `ec switch` again",
    )


def verdict_key(migration_id: int) -> str:
    return f"health:{migration_id}"


def record_verdict(
    runner: SafeRunner,
    ledger: Ledger,
    record: MigrationRecord,
    outcome: str,
    gate: health.HealthGate,
    verdict: health.Verdict,
    why: str | None,
) -> dict[str, Any]:
    """Store the verdict (the last one of this migration) and report it as an event;
    ``watching`` is stored only."""
    data: dict[str, Any] = {
        "outcome": outcome,
        "probe": gate.probe.kind,
        "target": gate.probe.target,
        "interval_s": gate.interval_s,
        "failures_allowed": gate.failures,
        "checks": verdict.checks,
        "consecutive_failures": verdict.failures,
        "watched_s": verdict.watched_s,
        "last": verdict.last.as_dict() if verdict.last is not None else None,
        "reason": why,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    ledger.remember(verdict_key(record.id), json.dumps(data))
    if outcome != "watching":  # a start, not a verdict: the ``watching`` event says it
        emit("health", stage="verdict", migration=record.name, **data)
    return data


def forget(ledger: Ledger, migration_id: int) -> None:
    """No verdict for this migration (it starts afresh: its id may be reused)."""
    ledger.remember(verdict_key(migration_id), "null")


def last_verdict(ledger: Ledger, migration_id: int) -> Any:
    """The recorded verdict of a migration's last health-gated switch, or None."""
    value = ledger.recall(verdict_key(migration_id))
    return json.loads(value) if value is not None else None
