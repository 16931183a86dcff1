"""Three ways to show a migration command's progress, each an observer of the engine's events
(``Engine(observer=view)``; ``with view:`` around the work):

- ``TerminalView``: for a person at a terminal. One line per state change above a live bar
  per backfill (rows done/total, rows/s, ETA, state) and the step that is running.
- ``PlainView``: for logs (piped, CI). One line per state change, and a backfill's numbers
  at most every ``every_s`` seconds; never a line per batch.
- ``JsonLinesView``: one JSON object per line. Every event, except that a backfill's batches
  are condensed into ``progress`` snapshots (at most every ``every_s`` seconds, and a final
  one); ``result`` writes the last line.
"""

from __future__ import annotations

import abc
import json
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.text import Text

from expandcontract.dsn import display_text
from expandcontract.progress.model import (
    COUNTING,
    Change,
    Event,
    Narrator,
    progress_line,
    state_text,
)

_TONES = {"info": "", "good": "green", "warn": "yellow", "bad": "bold red"}


class _View(abc.ABC):
    """Shared: a narrator, a lock (events may come from a backfill's thread), a context."""

    def __init__(self) -> None:
        self.narrator = Narrator()
        self._lock = threading.Lock()

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._show(event, self.narrator.feed(event))

    @abc.abstractmethod
    def _show(self, event: Event, changes: list[Change]) -> None:
        """Render one event and the state changes it caused (each view its own way)."""


def _batch_of(event: Event) -> str | None:
    """The backfill name if ``event`` is one of its batches."""
    if event.get("event") == "backfill" and (event.get("data") or {}).get("event") == "batch":
        return str(event.get("name"))
    return None


class PlainView(_View):
    def __init__(self, console: Console, *, every_s: float = 5.0) -> None:
        super().__init__()
        self.console = console
        self.every_s = every_s
        self._last: dict[str, float] = {}  # backfill name -> when its numbers were last shown

    def _show(self, event: Event, changes: list[Change]) -> None:
        for change in changes:
            self.console.print(change.text, markup=False, highlight=False, soft_wrap=True)
        name = _batch_of(event)
        if name is None:
            return
        tracker = self.narrator.trackers[name]
        last = self._last.setdefault(name, tracker.started)
        if self.narrator.now - last >= self.every_s:
            self._last[name] = self.narrator.now
            line = progress_line(tracker.snapshot())
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)


class JsonLinesView(_View):
    def __init__(self, write: Callable[[str], None], *, every_s: float = 1.0) -> None:
        super().__init__()
        self.write = write
        self.every_s = every_s
        self._last: dict[str, float] = {}

    def _line(self, data: Event) -> None:
        self.write(display_text(json.dumps(data, default=str)))

    def _progress(self, event: Event) -> None:
        name = str(event.get("name"))
        snap = self.narrator.trackers[name].snapshot()
        self._line({"event": "progress", "ts": event.get("ts"), **snap})

    def _show(self, event: Event, changes: list[Change]) -> None:
        data = event.get("data") or {}
        if event.get("event") == "backfill" and data.get("event") in COUNTING:
            name = str(event.get("name"))
            last = self._last.setdefault(name, self.narrator.trackers[name].started)
            if data.get("event") == "batch" and self.narrator.now - last >= self.every_s:
                self._last[name] = self.narrator.now
                self._progress(event)
            return
        if event.get("event") == "backfill" and data.get("event") == "done":
            self._progress(event)  # the final numbers, before the backfill's own result
        self._line(event)

    def result(self, data: Event) -> None:
        """The command's outcome, always the last line: ``{"event": "result", "ok": ...}``."""
        with self._lock:
            self._line({"event": "result", **data})


class TerminalView(_View):
    def __init__(self, console: Console, *, refresh_s: float = 0.1) -> None:
        super().__init__()
        self.console = console
        self.refresh_s = refresh_s
        # markup=False: descriptions hold names from the database (`orders[/]`, `arr[i]`).
        self.progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=14),
            TextColumn("{task.fields[detail]}", markup=False),
            console=console,
            auto_refresh=False,  # redrawn on events: no timer thread
            transient=True,  # the lines say how each backfill ended
        )
        self._bars: dict[str, TaskID] = {}
        self._step: TaskID | None = None
        self._drawn = float("-inf")

    def __enter__(self) -> TerminalView:
        self.progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._lock:
            self.progress.stop()

    def _show(self, event: Event, changes: list[Change]) -> None:
        for change in changes:
            self.progress.console.print(Text(change.text, style=_TONES[change.tone]))
        self._show_step()
        if event.get("event") == "backfill":
            self._show_backfill(str(event.get("name")), (event.get("data") or {}).get("event"))
        now = time.monotonic()
        if changes or now - self._drawn >= self.refresh_s:
            self._drawn = now
            self.progress.refresh()

    def _show_step(self) -> None:
        step = self.narrator.running_step
        if step is None:
            if self._step is not None:
                self.progress.remove_task(self._step)
                self._step = None
            return
        label = _fit(f"[{step.get('number')}/{step.get('of')}] {step.get('description')}", 58)
        detail = _fit(str(step.get("lock") or ""), 22)
        if self._step is None:
            self._step = self.progress.add_task(label, total=None, detail=detail)
        else:
            self.progress.update(self._step, description=label, detail=detail)

    def _show_backfill(self, name: str, kind: object) -> None:
        tracker = self.narrator.trackers[name]
        if kind in ("done", "error"):
            if name in self._bars:
                self.progress.remove_task(self._bars.pop(name))
            return
        snap = tracker.snapshot()
        total = int(snap["rows_total_estimate"]) or None
        if name not in self._bars:
            label = _fit(self.narrator.tables[name].rsplit(".", 1)[-1], 16)
            self._bars[name] = self.progress.add_task(label, total=total, detail="")
        self.progress.update(
            self._bars[name], completed=snap["rows_scanned"], total=total, detail=bar_detail(snap)
        )


def bar_detail(snap: Event) -> str:
    """rows done/total, percent, rate, ETA and state, in at most 46 characters."""
    done, total = int(snap["rows_scanned"]), int(snap["rows_total_estimate"])
    percent = f" {100 * done / total:.0f}%" if total else ""
    eta = snap.get("eta_s")
    when = "" if eta is None else f" ETA {_short_time(float(eta))}"
    state = state_text(snap)
    short_state = state.split(":", 1)[0].split(" at ", 1)[0] if state else ""
    text = f"{_short(done)}/{_short(total)}{percent} {_short(snap['rows_per_second'])}/s{when}"
    return text + (f" {short_state}" if short_state else "")


def _short(n: float) -> str:
    n = float(n)
    if n < 10_000:
        return f"{n:,.0f}"
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.2f}M"


def _short_time(seconds: float) -> str:
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}:{whole % 60:02d}"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}"


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
