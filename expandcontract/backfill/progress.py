"""Progress: a tracker fed by engine events (rows, rate, ETA, batch size, throttle state), read
by the progress views, ``ec backfill run --json`` and the metrics endpoint.

Counts include earlier runs of the same backfill (the ``start`` event's ``done_before``); rates
are this run's own: the current rate over the last few seconds of batches, and, once done, the
run's rows over the run's elapsed time."""

from __future__ import annotations

import collections
import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from expandcontract.dsn import display_text

Event = dict[str, Any]
# The current rate is measured over the batches of this many recent seconds: long enough to
# smooth batch-to-batch noise (and interleaved workers), short enough to follow a throttle.
_RATE_WINDOW_S = 5.0


class ProgressTracker:
    """Thread-safe running totals; ``snapshot()`` is what views, JSON and metrics show."""

    def __init__(
        self,
        name: str,
        table: str,
        key_kind: str,
        total_estimate: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.table = table
        self.key_kind = key_kind
        self.total_estimate = max(0, total_estimate)
        self.phase = "backfill"
        self.rows_scanned = 0
        self.rows_updated = 0
        self.rows_before = 0  # rows scanned by earlier runs of this backfill
        self.stragglers = 0
        self.batches = 0
        self.splits = 0
        self.retries = 0
        self.batch_size = 0
        self.last_batch_ms = 0.0
        self.throttle: str | None = None
        self.throttle_s = 0.0
        self.rate_cap: float | None = None  # rows/s this run is paced to (a cap, not a pause)
        self.done = False
        self._ran = False  # a start or a batch of this run was seen
        self._clock = clock
        self.started = clock()
        self._finished: float | None = None
        # (time, rows scanned by this run) after each batch of this run, the last few seconds.
        self._recent: collections.deque[tuple[float, int]] = collections.deque([(self.started, 0)])
        # (min, max) of a single integer key: the cursor's position refines the total.
        self.key_span: tuple[int, int] | None = None
        self._position: float | None = None
        self._lock = threading.Lock()

    def seed(self, rows_scanned: int, rows_updated: int, batches: int) -> None:
        """Start from what earlier runs of this backfill already committed."""
        with self._lock:
            self._seed(rows_scanned, rows_updated, batches)

    def _seed(self, rows_scanned: int, rows_updated: int, batches: int) -> None:
        self.rows_scanned, self.rows_updated, self.batches = rows_scanned, rows_updated, batches
        self.rows_before = rows_scanned

    def observe(self, event: Event) -> None:
        kind = event.get("event")
        with self._lock:
            if kind == "batch":
                self._batch(event)
            elif kind == "start":
                self._start(event)
            elif kind == "throttle":
                self.throttle = str(event.get("detail"))
            elif kind == "resume":
                self.throttle = None
                self.throttle_s += float(event.get("paused_s", 0.0))
            elif kind == "pacing":
                self.rate_cap = float(event.get("rows_per_second", 0.0)) or None
            elif kind == "split":
                self.splits += 1
            elif kind == "retry":
                self.retries += 1
            elif kind == "phase":
                self.phase = str(event.get("phase"))
            elif kind == "done":
                self._done(event)

    def _start(self, event: Event) -> None:
        self._ran = True
        self.table = str(event.get("table") or self.table)
        self.key_kind = str(event.get("key_kind") or self.key_kind)
        self.total_estimate = max(0, int(event.get("rows_estimate") or self.total_estimate))
        before = event.get("done_before")
        if isinstance(before, dict):
            self._seed(
                int(before.get("rows_scanned", 0)),
                int(before.get("rows_updated", 0)),
                int(before.get("batches", 0)),
            )

    def _batch(self, event: Event) -> None:
        now = self._clock()
        scanned = int(event.get("rows_scanned", 0))
        if event.get("phase") == "verify":
            self.stragglers += int(event.get("rows_updated", 0))
        else:
            self._ran = True
            self.rows_scanned += scanned
            self.batches += 1
            self._recent.append((now, self.rows_scanned - self.rows_before))
            while len(self._recent) > 2 and now - self._recent[1][0] >= _RATE_WINDOW_S:
                self._recent.popleft()
        self.rows_updated += int(event.get("rows_updated", 0))
        self.batch_size = int(event.get("next_batch_size", 0))
        self.last_batch_ms = float(event.get("duration_ms", 0.0))
        self.throttle = None
        self._track_position(event)

    def _done(self, event: Event) -> None:
        """The result is the truth: every run's rows, counted by the ledger."""
        self.done = True
        self._finished = self._clock()
        self.throttle = None
        if "rows_scanned" in event:
            self.rows_scanned = int(event["rows_scanned"])
            self.rows_updated = int(event.get("rows_updated", self.rows_updated))
            self.batches = int(event.get("batches", self.batches))
            self.stragglers = int(event.get("stragglers", self.stragglers))
        if not self._ran:
            # Only the result (a backfill an earlier run finished): every row is an earlier
            # run's, and this run's rate is 0, not those rows over a few microseconds.
            self.rows_before = self.rows_scanned

    def _track_position(self, event: Event) -> None:
        cursor = event.get("cursor")
        if self.key_span is None or event.get("phase") == "verify" or not isinstance(cursor, list):
            return
        low, high = self.key_span
        try:
            self._position = (int(cursor[0]) - low + 1) / max(1, high - low + 1)
        except (ValueError, IndexError):
            self._position = None

    def _total(self) -> int:
        if self.done:
            return self.rows_scanned
        total = max(self.total_estimate, self.rows_scanned)
        if self._position is not None and self._position >= 0.05 and self.phase != "verify":
            # Rows seen so far over the fraction of the key range covered so far.
            total = max(self.rows_scanned, round(self.rows_scanned / min(1.0, self._position)))
        return total

    def _current_rate(self, now: float) -> float:
        """Rows per second of this run's recent batches (0 before the first)."""
        (first_at, first_rows), (last_at, last_rows) = self._recent[0], self._recent[-1]
        if len(self._recent) < 2 or last_at <= first_at:
            return 0.0
        if now - last_at > _RATE_WINDOW_S:  # no batch for a while (paused): nothing flows
            return 0.0
        return (last_rows - first_rows) / (last_at - first_at)

    def snapshot(self) -> Event:
        with self._lock:
            now = self._finished if self._finished is not None else self._clock()
            elapsed = max(0.0, now - self.started)
            this_run = max(0, self.rows_scanned - self.rows_before)
            average = this_run / elapsed if elapsed > 0 else 0.0
            rate = average if self.done else self._current_rate(now)
            total = self._total()
            remaining = max(0, total - self.rows_scanned)
            eta = 0.0 if self.done else (remaining / rate if rate > 0 else None)
            return {
                "name": self.name,
                "table": self.table,
                "phase": "done" if self.done else self.phase,
                "key_kind": self.key_kind,
                "rows_scanned": self.rows_scanned,
                "rows_updated": self.rows_updated,
                "rows_this_run": this_run,
                "stragglers": self.stragglers,
                "rows_total_estimate": total,
                "batches": self.batches,
                "batch_size": self.batch_size,
                "last_batch_ms": round(self.last_batch_ms, 3),
                "rows_per_second": round(rate, 1),
                "average_rows_per_second": round(average, 1),
                "eta_s": None if eta is None else round(eta, 1),
                "throttled": self.throttle is not None,
                "throttle_reason": self.throttle,
                "throttle_s": round(self.throttle_s, 3),
                "rate_cap": self.rate_cap,
                "splits": self.splits,
                "retries": self.retries,
                "elapsed_s": round(elapsed, 3),
            }


class JsonLines:
    """``ec backfill run --json``: every event as one JSON line on stdout, plus a ``progress``
    snapshot at most once a second and one at the end of a run (a backfill finished earlier
    only repeats its ``done``)."""

    def __init__(self, tracker: ProgressTracker, stream: TextIO | None = None) -> None:
        self.tracker = tracker
        self.stream = stream or sys.stdout
        self._last = 0.0
        self._ran = False

    def __call__(self, event: Event) -> None:
        kind = event.get("event")
        self._ran = self._ran or kind == "start"
        if kind == "done" and self._ran:
            self._write({"event": "progress", **self.tracker.snapshot()})
        self._write(event)
        now = time.monotonic()
        if kind == "batch" and now - self._last >= 1.0:
            self._last = now
            self._write({"event": "progress", **self.tracker.snapshot()})

    def _write(self, event: Event) -> None:
        self.stream.write(display_text(json.dumps(event, default=str)) + "\n")
        self.stream.flush()


def fanout(*sinks: Callable[[Event], None] | None) -> Callable[[Event], None]:
    active = [s for s in sinks if s is not None]

    def emit(event: Event) -> None:
        for sink in active:
            sink(event)

    return emit
