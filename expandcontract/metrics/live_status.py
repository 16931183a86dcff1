"""``ec status --watch``: successive reads of the status, each with every backfill's rate
(rows scanned between two reads over the time between them) and ETA, and a signature of
what a person would call a change (phase, steps, rows, throttle, blockers), so that a view
on a non-terminal prints a new block only when something changed."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg

from expandcontract.errors import ECError

Status = dict[str, Any]
FAILED_READS_TOLERATED = 3  # in a row

# Fields that move on every read without anything happening.
_VOLATILE = frozenset({"updated_at", "rows_per_second", "eta_s", "xact_age_s", "last_seen",
                       "heartbeat_at", "server_version", "query"})  # fmt: skip


class LiveStatus:
    """``next()`` reads the status once more and adds ``rows_per_second`` and ``eta_s`` to
    each backfill (None on the first read, and while a backfill is not running)."""

    def __init__(self, read: Callable[[], Status], clock: Callable[[], float] = time.monotonic):
        self._read = read
        self._clock = clock
        self._previous: tuple[float, dict[str, int]] | None = None

    def next(self) -> Status:
        data = self._read()
        now = self._clock()
        before_at, before = self._previous or (now, {})
        scanned: dict[str, int] = {}
        for backfill in data.get("backfills") or ():
            rows = int(backfill.get("rows_scanned") or backfill.get("rows_done") or 0)
            scanned[str(backfill["name"])] = rows
            rate = None
            if backfill.get("status") in ("running", "paused") and now > before_at:
                earlier = before.get(str(backfill["name"]))
                if earlier is not None:
                    rate = max(0.0, (rows - earlier) / (now - before_at))
            backfill["rows_per_second"] = None if rate is None else round(rate, 1)
            estimate = int(backfill.get("rows_estimate") or 0)
            left = max(0, estimate - rows)
            backfill["eta_s"] = round(left / rate, 1) if rate and estimate else None
        self._previous = (now, scanned)
        return data


def signature(data: Status) -> str:
    """The status without what changes by itself: equal signatures show the same state."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in _VOLATILE}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return json.dumps(strip(data), sort_keys=True, default=str)


def active_migration(data: Status) -> str | None:
    """The active migration on the watched schema (``migration`` of the engine's status)."""
    if "migration" in data:
        return None if data["migration"] is None else str(data["migration"])
    return next((str(m["name"]) for m in data.get("migrations") or () if m.get("active")), None)


def watch(
    read: Callable[[], Status],
    *,
    interval_s: float,
    count: int | None = None,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Status]:
    """Readings every ``interval_s`` until ``count`` readings, ``stop`` is set, or the
    migration that was active finishes (its last reading is yielded too)."""
    stop = stop or threading.Event()
    live = LiveStatus(read, clock)
    watched: str | None = None
    taken = failed = 0
    while True:
        try:
            data = live.next()
        except (psycopg.Error, ECError):
            # A read racing the migration (contract dropping what it counts) fails once and
            # succeeds next time; a database that stays away ends the watch with its error.
            failed += 1
            if failed >= FAILED_READS_TOLERATED:
                raise
            if stop.wait(interval_s):
                return
            continue
        failed = 0
        taken += 1
        yield data
        now_active = active_migration(data)
        if watched is not None and now_active != watched:
            return  # finished (or rolled back): nothing more to watch
        watched = now_active or watched
        if (count is not None and taken >= count) or stop.wait(interval_s):
            return
