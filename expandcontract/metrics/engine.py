"""Engine-wide Prometheus metrics, fed by the progress event stream (expandcontract.observe).

``EngineMetrics`` is an observer: pass it as ``Engine(observer=...)`` (or in a ``fanout``) and
it keeps, per migration, the phase, the step, lock waits, retries, blockers, every table's
backfill (through the backfill engine's own ProgressTracker), replica lag while it holds the
backfill, and switches; ``render()`` is the text exposition, ``serve(port)`` the endpoint.
docs: the metric list is in the observability section (Grafana-ready, with PromQL)."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from expandcontract.backfill.metrics import add_backfill
from expandcontract.backfill.progress import ProgressTracker
from expandcontract.metrics.exposition import Exposition
from expandcontract.metrics.server import MetricsHTTPServer
from expandcontract.observe import Event

PHASES = ("expand", "backfill", "switch", "contract", "rollback")
STATUSES = ("running", "done", "rolled_back", "failed")
# The lag throttle says "replica lag 7.2s > 5s": its value, until events carry readings.
_LAG_DETAIL = re.compile(r"replica lag (\d+(?:\.\d+)?(?:e[+-]?\d+)?)s")


@dataclasses.dataclass
class _Phase:
    running: bool = False
    started: float | None = None
    ended: float | None = None
    steps: int = 0
    step: dict[str, Any] | None = None  # the step running now
    step_number: int = 0
    finished: Counter[str] = dataclasses.field(default_factory=Counter)
    durations: list[float] = dataclasses.field(default_factory=list)
    lock_wait_s: float = 0.0
    step_lock_wait_s: float = 0.0  # of the running step, already in lock_wait_s
    retries: int = 0
    failures: int = 0
    blockers: tuple[dict[str, Any], ...] = ()


@dataclasses.dataclass
class _Backfill:
    name: str
    table: str
    tracker: ProgressTracker
    finished: bool = False
    verified: bool = False
    lag_s: float | None = None


@dataclasses.dataclass
class _Migration:
    status: str | None = None
    phase: str | None = None
    phases: dict[str, _Phase] = dataclasses.field(default_factory=dict)
    backfills: dict[str, _Backfill] = dataclasses.field(default_factory=dict)
    switches: Counter[str] = dataclasses.field(default_factory=Counter)
    version: tuple[str, str] | None = None  # (schema, new | old) made current last
    switched_at: float | None = None
    health_checks: Counter[str] = dataclasses.field(default_factory=Counter)
    healthy: bool | None = None  # the last probe's answer
    health_failures: int = 0  # consecutive, while a health gate watches
    health_verdict: str | None = None
    events: Counter[str] = dataclasses.field(default_factory=Counter)
    last_event: float | None = None

    def phase_state(self, phase: str) -> _Phase:
        return self.phases.setdefault(phase, _Phase())


class EngineMetrics:
    """Observer of the engine's events; thread-safe (the backfill reports from its thread)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._migrations: dict[str, _Migration] = {}
        self._current = ""  # the migration the events without a name belong to

    # -- consuming events ------------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        kind = str(event.get("event"))
        with self._lock:
            named = event.get("migration") or (event.get("name") if kind == "migration" else None)
            if named:
                self._current = str(named)
            mig = self._migrations.setdefault(self._current, _Migration())
            mig.events[kind] += 1
            mig.last_event = float(event.get("ts") or self._clock())
            handler = getattr(self, f"_on_{kind}", None)
            if handler is not None:
                handler(mig, event)

    def _on_migration(self, mig: _Migration, event: Event) -> None:
        status = event.get("status")
        mig.status = "running" if status in ("started", "resumed") else str(status)

    def _on_phase(self, mig: _Migration, event: Event) -> None:
        name, status = str(event.get("phase")), event.get("status")
        phase, ts = mig.phase_state(name), float(event.get("ts") or self._clock())
        if status == "started":
            mig.phase = name
            mig.status = "running"
            # A phase started again (a resumed run) counts its time afresh.
            phase.running, phase.started, phase.ended = True, ts, None
            phase.steps = int(event.get("steps") or len(event.get("tables") or ()))
            phase.step = None
            return
        phase.running, phase.ended, phase.step, phase.blockers = False, ts, None, ()
        if status == "failed":
            phase.failures += 1
            mig.status = "failed"

    def _on_step(self, mig: _Migration, event: Event) -> None:
        phase = mig.phase_state(str(event.get("phase")))
        status = str(event.get("status"))
        if status == "started":
            phase.step = {k: event.get(k) for k in ("number", "of", "description", "lock")}
            phase.step_number = int(event.get("number") or 0)
            phase.step_lock_wait_s = 0.0
            return
        phase.finished[status] += 1
        if event.get("lock_wait_ms") is not None:
            self._lock_wait(phase, float(event["lock_wait_ms"]) / 1000)
        if status == "done" and event.get("duration_ms") is not None:
            phase.durations.append(float(event["duration_ms"]) / 1000)
        phase.step, phase.blockers, phase.step_lock_wait_s = None, (), 0.0

    def _on_statement(self, mig: _Migration, event: Event) -> None:
        phase = mig.phase_state(mig.phase or "")
        if event.get("outcome") == "retry":
            phase.retries += 1
        # The statement's lock wait so far, across its attempts: count only what is new.
        self._lock_wait(phase, float(event.get("lock_wait_ms") or 0.0) / 1000)
        by_pid = {b.get("pid"): b for b in event.get("blockers") or () if isinstance(b, dict)}
        phase.blockers = tuple(by_pid.values())

    @staticmethod
    def _lock_wait(phase: _Phase, step_total_s: float) -> None:
        new = step_total_s - phase.step_lock_wait_s
        if new > 0:
            phase.lock_wait_s += new
            phase.step_lock_wait_s = step_total_s

    def _on_backfill(self, mig: _Migration, event: Event) -> None:
        data = event.get("data") or {}
        name = str(event.get("name"))
        kind = data.get("event")
        backfill = mig.backfills.get(name)
        if backfill is None:
            table = str(data.get("table") or event.get("table"))
            tracker = ProgressTracker(
                name, table, str(data.get("key_kind") or ""), int(data.get("rows_estimate") or 0)
            )
            backfill = mig.backfills[name] = _Backfill(name, table, tracker)
        # The tracker counts earlier runs (the start event's done_before) and takes the
        # result's totals at the end.
        backfill.tracker.observe(data)
        if kind == "done":
            backfill.finished, backfill.verified = True, bool(data.get("verified"))
        self._track_lag(backfill, data)

    @staticmethod
    def _track_lag(backfill: _Backfill, data: dict[str, Any]) -> None:
        values = data.get("values")
        if isinstance(values, dict) and values.get("replica_lag") is not None:
            backfill.lag_s = float(values["replica_lag"])
        elif data.get("event") == "throttle":
            found = _LAG_DETAIL.search(str(data.get("detail") or ""))
            backfill.lag_s = float(found.group(1)) if found else None
        elif data.get("event") in ("resume", "done", "error"):
            backfill.lag_s = None  # no longer measured: a stale value would mislead

    def _on_switch(self, mig: _Migration, event: Event) -> None:
        to, schema = str(event.get("to")), str(event.get("schema"))
        if mig.version != (schema, to):  # contract re-asserts the switch apply made: no change
            mig.switches[to] += 1
            mig.version = (schema, to)
            mig.switched_at = float(event.get("ts") or self._clock())
        mig.phase = "switch"
        mig.status = mig.status or "running"

    def _on_health(self, mig: _Migration, event: Event) -> None:
        stage = event.get("stage")
        if stage in ("before", "watch", "backfill"):
            mig.healthy = bool(event.get("healthy"))
            mig.health_checks["healthy" if mig.healthy else "unhealthy"] += 1
            # A check before the switch carries no count: a failure there is the first.
            failures = event.get("failures", 0 if mig.healthy else 1)
            mig.health_failures = int(failures or 0)
        elif stage == "verdict":
            mig.health_verdict = str(event.get("outcome"))

    # -- exposition ------------------------------------------------------------------------------
    def render(self) -> str:
        out = Exposition()
        now = self._clock()
        with self._lock:
            for name, mig in self._migrations.items():
                if name:
                    _render_migration(out, name, mig, now)
        return out.text()

    def serve(self, port: int, host: str = "127.0.0.1") -> MetricsHTTPServer:
        """The endpoint (not started: use it as a context manager)."""
        return MetricsHTTPServer(self.render, port, host)


def _render_migration(out: Exposition, name: str, mig: _Migration, now: float) -> None:
    m = {"migration": name}
    if mig.status is not None:
        for status in STATUSES:
            out.add("ec_migration_status", "gauge",
                    "1 for the migration's status (running, done, rolled_back, failed), else 0.",
                    {**m, "status": status}, int(status == mig.status))  # fmt: skip
    if mig.phase is not None:
        for known in PHASES:
            out.add("ec_migration_phase", "gauge",
                    "1 for the phase the migration is in (the last one started), else 0.",
                    {**m, "phase": known}, int(known == mig.phase))  # fmt: skip
    for phase_name, phase in mig.phases.items():
        if phase_name:
            _render_phase(out, {**m, "phase": phase_name}, phase, now)
    for backfill in mig.backfills.values():
        labels = {**m, "name": backfill.name, "table": backfill.table}
        add_backfill(out, backfill.tracker.snapshot(), labels)
        out.add("ec_backfill_finished", "gauge", "1 once the backfill finished (0 while it runs).",
                labels, int(backfill.finished))  # fmt: skip
        out.add(
            "ec_backfill_verified",
            "gauge",
            "1 once the sweep proved every row converted.",
            labels,
            int(backfill.verified),
        )
        if backfill.lag_s is not None:
            out.add("ec_backfill_replica_lag_seconds", "gauge",
                    "Replica lag measured by the lag throttle while it holds the backfill.",
                    labels, backfill.lag_s)  # fmt: skip
    for to, count in sorted(mig.switches.items()):
        out.add("ec_switches_total", "counter", "Changes of the current version (to new or old).",
                {**m, "to": to}, count)  # fmt: skip
    if mig.version is not None and mig.switched_at is not None:
        schema, to = mig.version
        out.add("ec_version_current_info", "gauge",
                "The version schema made current by the last switch (1).",
                {**m, "schema": schema, "version": to}, 1)  # fmt: skip
        out.add("ec_switch_timestamp_seconds", "gauge", "Unix time of the last switch.",
                m, mig.switched_at)  # fmt: skip
    _render_health(out, m, mig)
    for kind, count in sorted(mig.events.items()):
        out.add("ec_events_total", "counter", "Progress events seen, by kind.",
                {**m, "event": kind}, count)  # fmt: skip
    if mig.last_event is not None:
        out.add("ec_last_event_timestamp_seconds", "gauge",
                "Unix time of the last progress event (a stalled run stops moving it).",
                m, mig.last_event)  # fmt: skip


def _render_phase(out: Exposition, p: dict[str, str], phase: _Phase, now: float) -> None:
    out.add("ec_phase_running", "gauge", "1 while the phase runs.", p, int(phase.running))
    if phase.started is not None:
        out.add("ec_phase_started_timestamp_seconds", "gauge",
                "Unix time the phase (last) started.", p, phase.started)  # fmt: skip
        end = phase.ended if phase.ended is not None else now
        out.add("ec_phase_duration_seconds", "gauge",
                "Seconds the phase has run (so far while it runs).", p,
                round(max(0.0, end - phase.started), 3))  # fmt: skip
    out.add("ec_phase_steps", "gauge", "Steps in the phase (tables, for the backfill).",
            p, phase.steps)  # fmt: skip
    out.add("ec_step_current", "gauge", "Number of the step running (or last run) in the phase.",
            p, phase.step_number)  # fmt: skip
    if phase.step is not None:
        step = phase.step
        out.add("ec_step_info", "gauge", "The step running now (1), described by its labels.",
                {**p, "number": step.get("number"), "of": step.get("of"),
                 "description": step.get("description") or "", "lock": step.get("lock") or ""},
                1)  # fmt: skip
    for status in ("done", "skipped", "failed"):
        out.add("ec_steps_total", "counter",
                "Steps finished: done, skipped (done by an earlier run) or failed.",
                {**p, "status": status}, phase.finished[status])  # fmt: skip
    out.histogram("ec_step_duration_seconds", "Duration of the steps done.", p, phase.durations)
    out.add("ec_lock_wait_seconds_total", "counter", "Seconds ec's steps waited for locks.",
            p, round(phase.lock_wait_s, 3))  # fmt: skip
    out.add(
        "ec_statement_retries_total",
        "counter",
        "Statements retried (a lock timeout, a lost connection...).",
        p,
        phase.retries,
    )
    out.add("ec_phase_failures_total", "counter", "Times the phase failed.", p, phase.failures)
    out.add(
        "ec_blocking_sessions",
        "gauge",
        "Sessions holding a lock ec's running step waits for.",
        p,
        len(phase.blockers),
    )
    for blocker in phase.blockers:
        out.add("ec_blocker_info", "gauge", "A session blocking ec now (1), by its labels.",
                {**p, "pid": blocker.get("pid"), "user": blocker.get("user") or "",
                 "application": blocker.get("application") or "",
                 "relation": blocker.get("relation") or "",
                 "mode": blocker.get("wait_mode") or ""}, 1)  # fmt: skip


def _render_health(out: Exposition, m: dict[str, str], mig: _Migration) -> None:
    for result in sorted(mig.health_checks):
        out.add("ec_health_checks_total", "counter", "Health probes run, by result.",
                {**m, "result": result}, mig.health_checks[result])  # fmt: skip
    if mig.healthy is not None:
        out.add("ec_health_ok", "gauge", "1 if the last health probe passed, else 0.",
                m, int(mig.healthy))  # fmt: skip
        out.add(
            "ec_health_consecutive_failures",
            "gauge",
            "Consecutive failed probes of the health gate's watch.",
            m,
            mig.health_failures,
        )
    if mig.health_verdict is not None:
        out.add("ec_health_verdict_info", "gauge",
                "How the last health-gated switch ended (passed, switched_back, ...).",
                {**m, "outcome": mig.health_verdict}, 1)  # fmt: skip
