"""Progress: a tracker fed by engine events (rows, rate, ETA, batch size, throttle state),
rendered as a rich progress bar or as JSON lines, and read by the metrics endpoint."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from expandcontract.dsn import display_text

Event = dict[str, Any]
_RATE_ALPHA = 0.2


class ProgressTracker:
    """Thread-safe running totals; ``snapshot()`` is what bars, JSON and metrics show."""

    def __init__(self, name: str, table: str, key_kind: str, total_estimate: int) -> None:
        self.name = name
        self.table = table
        self.key_kind = key_kind
        self.total_estimate = max(0, total_estimate)
        self.phase = "backfill"
        self.rows_scanned = 0
        self.rows_updated = 0
        self.stragglers = 0
        self.batches = 0
        self.splits = 0
        self.retries = 0
        self.batch_size = 0
        self.last_batch_ms = 0.0
        self.throttle: str | None = None
        self.throttle_s = 0.0
        self.rate = 0.0
        self.started = time.monotonic()
        self._last_batch_at: float | None = None
        # (min, max) of a single integer key: the cursor's position refines the total.
        self.key_span: tuple[int, int] | None = None
        self._position: float | None = None
        self._lock = threading.Lock()

    def seed(self, rows_scanned: int, rows_updated: int, batches: int) -> None:
        """Start from what earlier runs of this backfill already committed."""
        self.rows_scanned, self.rows_updated, self.batches = rows_scanned, rows_updated, batches

    def observe(self, event: Event) -> None:
        kind = event.get("event")
        with self._lock:
            if kind == "batch":
                now = time.monotonic()
                scanned = int(event.get("rows_scanned", 0))
                if event.get("phase") == "verify":
                    self.stragglers += int(event.get("rows_updated", 0))
                else:
                    self.rows_scanned += scanned
                    self.batches += 1
                self.rows_updated += int(event.get("rows_updated", 0))
                self.batch_size = int(event.get("next_batch_size", 0))
                self.last_batch_ms = float(event.get("duration_ms", 0.0))
                if self._last_batch_at is not None and now > self._last_batch_at:
                    sample = scanned / (now - self._last_batch_at)
                    self.rate = (
                        sample
                        if not self.rate
                        else (_RATE_ALPHA * sample + (1 - _RATE_ALPHA) * self.rate)
                    )
                self._last_batch_at = now
                self.throttle = None
                self._track_position(event)
            elif kind == "throttle":
                self.throttle = str(event.get("detail"))
            elif kind == "resume":
                self.throttle = None
                self.throttle_s += float(event.get("paused_s", 0.0))
                self._last_batch_at = None
            elif kind == "split":
                self.splits += 1
            elif kind == "retry":
                self.retries += 1
            elif kind == "phase":
                self.phase = str(event.get("phase"))

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
        total = max(self.total_estimate, self.rows_scanned)
        if self._position is not None and self._position >= 0.05 and self.phase != "verify":
            # Rows seen so far over the fraction of the key range covered so far.
            total = max(self.rows_scanned, round(self.rows_scanned / min(1.0, self._position)))
        return total

    def snapshot(self) -> Event:
        with self._lock:
            total = self._total()
            remaining = max(0, total - self.rows_scanned)
            eta = remaining / self.rate if self.rate > 0 else None
            return {
                "name": self.name,
                "table": self.table,
                "phase": self.phase,
                "key_kind": self.key_kind,
                "rows_scanned": self.rows_scanned,
                "rows_updated": self.rows_updated,
                "stragglers": self.stragglers,
                "rows_total_estimate": total,
                "batches": self.batches,
                "batch_size": self.batch_size,
                "last_batch_ms": round(self.last_batch_ms, 3),
                "rows_per_second": round(self.rate, 1),
                "eta_s": None if eta is None else round(eta, 1),
                "throttled": self.throttle is not None,
                "throttle_reason": self.throttle,
                "throttle_s": round(self.throttle_s, 3),
                "splits": self.splits,
                "retries": self.retries,
                "elapsed_s": round(time.monotonic() - self.started, 3),
            }


class JsonLines:
    """One JSON object per line on stdout, plus a ``progress`` snapshot at most once a second."""

    def __init__(self, tracker: ProgressTracker, stream: TextIO | None = None) -> None:
        self.tracker = tracker
        self.stream = stream or sys.stdout
        self._last = 0.0

    def __call__(self, event: Event) -> None:
        self._write(event)
        now = time.monotonic()
        if event.get("event") == "batch" and now - self._last >= 1.0:
            self._last = now
            self._write({"event": "progress", **self.tracker.snapshot()})

    def _write(self, event: Event) -> None:
        self.stream.write(display_text(json.dumps(event, default=str)) + "\n")
        self.stream.flush()


class RichBar:
    """rows done / estimated total, rate, ETA, batch size and throttle state."""

    def __init__(self, tracker: ProgressTracker, console: Console | None = None) -> None:
        self.tracker = tracker
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} rows"),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA {task.fields[eta]}"),
            TextColumn("batch {task.fields[batch]}"),
            TextColumn("{task.fields[state]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> RichBar:
        self.progress.start()
        snap = self.tracker.snapshot()
        self.task = self.progress.add_task(
            self.tracker.name, total=snap["rows_total_estimate"] or None, rate="",
            eta="?", batch="-", state="",
        )  # fmt: skip
        return self

    def __exit__(self, *exc: object) -> None:
        self.refresh()
        self.progress.stop()

    def __call__(self, event: Event) -> None:
        kind = event.get("event")
        if kind in ("throttle", "resume", "split", "retry", "error", "lease_lost", "start"):
            self.progress.console.print(_describe(event))
        self.refresh()

    def refresh(self) -> None:
        if self.task is None:
            return
        s = self.tracker.snapshot()
        eta = "?" if s["eta_s"] is None else time.strftime("%H:%M:%S", time.gmtime(s["eta_s"]))
        state = f"[yellow]throttled: {s['throttle_reason']}[/]" if s["throttled"] else s["phase"]
        self.progress.update(
            self.task, completed=s["rows_scanned"], total=s["rows_total_estimate"] or None,
            rate=f"{s['rows_per_second']:,.0f} rows/s", eta=eta, batch=s["batch_size"],
            state=state,
        )  # fmt: skip


def _describe(event: Event) -> str:
    kind = event.get("event")
    if kind == "throttle":
        return f"[yellow]paused[/]: {event.get('detail')}"
    if kind == "resume":
        return f"[green]resumed[/] after {event.get('paused_s')}s ({event.get('after')})"
    if kind == "split":
        return f"batch split to {event.get('next_batch_size')} rows: {event.get('error')}"
    if kind == "retry":
        return f"retrying batch: {event.get('error')}"
    if kind == "start":
        return f"backfill {event.get('name')}: {event.get('key')}"
    return json.dumps(event, default=str)


def fanout(*sinks: Callable[[Event], None] | None) -> Callable[[Event], None]:
    active = [s for s in sinks if s is not None]

    def emit(event: Event) -> None:
        for sink in active:
            sink(event)

    return emit
