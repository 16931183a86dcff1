"""What a person wants to know from the engine's event stream (expandcontract.observe): one
sentence per state change, and per backfill its running totals.

A state change is a migration, phase or step starting or ending, a backfill starting,
pausing (once per reason), resuming, being paced by a rate cap, verifying or finishing. A
batch is not a state change: it only moves the backfill's numbers (see ``trackers``)."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from expandcontract.backfill.progress import ProgressTracker

Event = dict[str, Any]

# Backfill engine events that only move numbers (the views show them as progress).
COUNTING = frozenset({"batch", "range", "range_done", "workers", "metrics"})


@dataclasses.dataclass(frozen=True)
class Change:
    """One state change, said in one line. ``tone``: info, good, warn or bad (for colour)."""

    text: str
    tone: str = "info"
    table: str | None = None  # the backfill it is about, if any


class Narrator:
    """Folds events into state changes and per-backfill trackers (keyed by backfill name)."""

    def __init__(self) -> None:
        # The events' own timestamps are the clock: rates and ETAs are the same whether the
        # events are live or replayed, and a view never needs a timer of its own.
        self.now = time.time()
        self.trackers: dict[str, ProgressTracker] = {}
        self.tables: dict[str, str] = {}  # backfill name -> table shown
        self._paused: dict[str, str | None] = {}  # backfill name -> the pause last told
        self._capped: dict[str, float | None] = {}
        self._started: set[str] = set()
        self._healthy: dict[str, bool] = {}  # health stage -> the probe's last told result
        self.running_step: Event | None = None

    def clock(self) -> float:
        return self.now

    def feed(self, event: Event) -> list[Change]:
        kind = event.get("event")
        ts = event.get("ts")
        if isinstance(ts, int | float):
            self.now = float(ts)
        if kind == "backfill":
            return self._backfill(event)
        if kind == "migration":
            return [_migration(event)]
        if kind == "phase":
            return _phase(event)
        if kind == "step":
            return self._step(event)
        if kind == "switch":
            return [Change(f"switch: version schema {event.get('schema')} is current", "good")]
        if kind == "health":
            return _health(event, self._healthy)
        return []  # statement retries are logged as warnings already (one line each)

    def _step(self, event: Event) -> list[Change]:
        status = event.get("status")
        if status == "started":
            self.running_step = event
            return []
        self.running_step = None
        where = f"  [{event.get('number')}/{event.get('of')}] {event.get('description')}"
        if status == "skipped":
            return [Change(f"{where}: done by an earlier run")]
        if status == "failed":
            return [Change(f"{where}: failed (the error follows)", "bad")]
        lock = f", {event['lock']}" if event.get("lock") else ""
        took = _duration(float(event.get("duration_ms") or 0) / 1000)
        extra = ""
        if int(event.get("attempts") or 1) > 1:
            waited = _duration(float(event.get("lock_wait_ms") or 0) / 1000)
            extra = f", {event.get('attempts')} attempts, waited {waited} on locks"
        return [Change(f"{where} ({took}{lock}{extra})")]

    def _backfill(self, event: Event) -> list[Change]:
        name = str(event.get("name"))
        data: Event = event.get("data") or {}
        kind = data.get("event")
        tracker = self.trackers.get(name)
        if tracker is None:
            table = str(event.get("table") or data.get("table") or name)
            tracker = ProgressTracker(name, table, "", 0, clock=self.clock)
            self.trackers[name] = tracker
            self.tables[name] = table
        tracker.observe(data)
        if kind == "start":  # the backfill names its table in full (schema.table)
            self.tables[name] = tracker.table
        if kind in COUNTING:
            return []
        return self._backfill_change(name, self.tables[name], data)

    def _backfill_change(self, name: str, table: str, data: Event) -> list[Change]:
        kind = data.get("event")
        say = f"backfill {table}"
        if kind == "start":
            self._started.add(name)
            snap = self.trackers[name].snapshot()
            rows = f"~{snap['rows_total_estimate']:,} rows, {data.get('key')}"
            if snap["rows_scanned"]:
                rows += f"; resuming after {snap['rows_scanned']:,} rows done earlier"
            return [Change(f"{say}: started ({rows})", table=table)]
        if kind == "throttle":
            detail = str(data.get("detail"))
            if self._paused.get(name) == detail:
                return []
            self._paused[name] = detail
            return [Change(f"{say}: paused: {detail}", "warn", table)]
        if kind == "resume":
            if self._paused.pop(name, None) is None:
                return []
            took = _duration(float(data.get("paused_s") or 0))
            return [Change(f"{say}: resumed after {took}", "good", table)]
        if kind == "pacing":
            cap = float(data.get("rows_per_second") or 0)
            if self._capped.get(name) == cap:
                return []
            self._capped[name] = cap
            return [Change(f"{say}: rate-capped at {cap:,.0f} rows/s", table=table)]
        if kind == "phase" and data.get("phase") == "verify":
            return [Change(f"{say}: verifying every row (sweep by {data.get('by')})", table=table)]
        if kind in ("split", "retry", "lease_lost"):
            return [Change(f"{say}: {_incident(data)}", "warn", table)]
        if kind == "done":
            already = name not in self._started
            return [Change(f"{say}: {finished(self.trackers[name], data, already)}", "good", table)]
        if kind == "error":
            return [Change(f"{say}: {data.get('status')}: {data.get('error')}", "bad", table)]
        return []


def finished(tracker: ProgressTracker, data: Event, already: bool = False) -> str:
    """The end of a backfill: every run's rows, and this run's own average rate."""
    snap = tracker.snapshot()
    verified = "verified" if data.get("verified") else "not verified"
    if already:  # finished by an earlier run: nothing ran now
        return f"already done ({snap['rows_scanned']:,} rows, {verified})"
    earlier = f", {tracker.rows_before:,} of them by earlier runs" if tracker.rows_before else ""
    return (
        f"done, {snap['rows_scanned']:,} rows{earlier}; this run "
        f"{snap['rows_this_run']:,} rows in {_duration(snap['elapsed_s'])} "
        f"({snap['average_rows_per_second']:,.0f} rows/s), {verified}"
    )


def progress_line(snap: Event) -> str:
    """One line of a backfill's numbers (the periodic line of plain output)."""
    total = int(snap["rows_total_estimate"])
    done = int(snap["rows_scanned"])
    percent = f" ({100 * done / total:.0f}%)" if total else ""
    eta = snap.get("eta_s")
    state = state_text(snap)
    return (
        f"backfill {snap['table']}: {done:,}/{total:,} rows{percent}, "
        f"{snap['rows_per_second']:,.0f} rows/s, ETA {'?' if eta is None else _clock_text(eta)}"
        + (f", {state}" if state else "")
    )


def state_text(snap: Event) -> str:
    """Why the backfill is not at full speed, if it is not: paused, capped, verifying."""
    if snap.get("throttled"):
        return f"paused: {snap.get('throttle_reason')}"
    if snap.get("phase") == "verify":
        return "verifying"
    if snap.get("rate_cap"):
        return f"rate-capped at {float(snap['rate_cap']):,.0f} rows/s"
    return ""


def _migration(event: Event) -> Change:
    status = event.get("status")
    text = {
        "started": "started",
        "resumed": "resuming from the ledger (finished steps are skipped)",
        "done": "done",
        "rolled_back": "rolled back",
    }.get(str(status), str(status))
    return Change(f"migration {event.get('name')}: {text}", "good" if status == "done" else "info")


def _phase(event: Event) -> list[Change]:
    phase, status = event.get("phase"), event.get("status")
    if status == "started":
        steps = event.get("steps")
        tables = event.get("tables")
        what = f" ({steps} step{'s' if steps != 1 else ''})" if steps is not None else ""
        if tables is not None:
            what = f" ({', '.join(tables) or 'no table'})"
        return [Change(f"{phase}: started{what}")]
    if status == "failed":
        return [Change(f"{phase}: failed", "bad")]
    return [Change(f"{phase}: {status}", "good" if status == "done" else "info")]


def _health(event: Event, last: dict[str, bool]) -> list[Change]:
    """The health gate (expandcontract.health): a probe's result when it changes, the watch
    starting and its verdict; not every check."""
    stage = str(event.get("stage"))
    if stage == "watching":
        return [Change(f"health: watching for {event.get('seconds')}s, "
                       f"a probe every {event.get('interval')}s")]  # fmt: skip
    if stage == "verdict":
        outcome = str(event.get("outcome"))
        why = f": {event.get('reason')}" if event.get("reason") else ""
        text = f"health: watch {outcome} after {event.get('checks')} check(s){why}"
        return [Change(text, "good" if outcome == "passed" else "bad")]
    if "healthy" not in event:
        return []
    healthy = bool(event.get("healthy"))
    if last.get(stage) == healthy:
        return []
    last[stage] = healthy
    state = "healthy" if healthy else "failing"
    target = f" {event.get('target')}" if event.get("target") else ""
    detail = f" ({event.get('detail')})" if event.get("detail") else ""
    return [Change(f"health: probe{target} {state}{detail}", "good" if healthy else "warn")]


def _incident(data: Event) -> str:
    kind = data.get("event")
    if kind == "split":
        return f"batch split to {data.get('next_batch_size')} rows ({data.get('error')})"
    if kind == "retry":
        return f"retrying a batch ({data.get('error')})"
    return f"lost a range lease ({data.get('detail')})"


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return _clock_text(seconds)


def _clock_text(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
