"""Synthetic engine event streams for the progress views' unit tests."""

from __future__ import annotations

from typing import Any

Event = dict[str, Any]


def backfill(ts: float, data: dict[str, Any], name: str = "m-1:public.users") -> Event:
    return {"event": "backfill", "ts": ts, "table": "users", "name": name, "data": data}


def start(ts: float, estimate: int, before: int = 0, name: str = "m-1:public.users") -> Event:
    done_before = {"rows_scanned": before, "rows_updated": before, "batches": before // 1000}
    return backfill(
        ts,
        {"event": "start", "table": "public.users", "key": "keyset on id", "key_kind": "integer",
         "rows_estimate": estimate, "resumed": bool(before), "done_before": done_before},
        name,
    )  # fmt: skip


def batch(ts: float, rows: int, phase: str = "backfill", name: str = "m-1:public.users") -> Event:
    data = {"event": "batch", "phase": phase, "rows_scanned": rows, "rows_updated": rows,
            "duration_ms": 20.0, "next_batch_size": rows}  # fmt: skip
    return backfill(ts, data, name)


def done(ts: float, rows: int, name: str = "m-1:public.users") -> Event:
    data = {"event": "done", "status": "done", "rows_scanned": rows, "rows_updated": rows,
            "batches": rows // 1000, "stragglers": 0, "verified": True}  # fmt: skip
    return backfill(ts, data, name)


def migration_run(batches: int, rows_per_batch: int, seconds: float) -> list[Event]:
    """expand (2 steps), a backfill of ``batches`` even batches over ``seconds``, and done."""
    events: list[Event] = [
        {"event": "migration", "ts": 0.0, "name": "m", "status": "started"},
        {"event": "phase", "ts": 0.0, "phase": "expand", "status": "started", "steps": 2},
    ]
    for n in (1, 2):
        about = {"phase": "expand", "number": n, "of": 2, "description": f"step {n}",
                 "lock": "ACCESS EXCLUSIVE"}  # fmt: skip
        events.append({"event": "step", "ts": 0.0, "status": "started", **about})
        events.append({"event": "step", "ts": 0.0, "status": "done", "duration_ms": 3.0,
                       "attempts": 1, "lock_wait_ms": 0.0, **about})  # fmt: skip
    events.append({"event": "phase", "ts": 0.0, "phase": "expand", "status": "done"})
    events.append({"event": "phase", "ts": 0.0, "phase": "backfill", "status": "started",
                   "tables": ["users"]})  # fmt: skip
    total = batches * rows_per_batch
    events.append(start(0.0, total))
    for i in range(1, batches + 1):
        events.append(batch(seconds * i / batches, rows_per_batch))
    events.append(backfill(seconds, {"event": "phase", "phase": "verify", "by": "ctid"}))
    # The sweep reads the whole table fast: it must not make the final rate look fast.
    events.append(batch(seconds + 0.01, total, phase="verify"))
    events.append(done(seconds + 0.01, total))
    events.append({"event": "phase", "ts": seconds, "phase": "backfill", "status": "done"})
    events.append({"event": "migration", "ts": seconds, "name": "m", "status": "done"})
    return events
