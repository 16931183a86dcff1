"""Run one batch: its statements, the checkpoint, in one short transaction."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from expandcontract.backfill.statements import BatchSql, Bounds, Cursor, tid
from expandcontract.backfill.store import PHASE_VERIFY, BatchRecord, Claim, Store
from expandcontract.runner.runner import Connection


@dataclasses.dataclass(frozen=True)
class BatchOutcome:
    scanned: int
    updated: int
    last: Cursor  # the new cursor; None when the range is exhausted
    duration_ms: float
    done: bool
    work: int = -1  # rows-equivalent of what the batch read (sizing); -1 = rows scanned

    @property
    def effort(self) -> int:
        return self.scanned if self.work < 0 else self.work


def _set_timeouts(conn: Connection, lock_ms: int, stmt_ms: int) -> None:
    conn.execute(
        "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)",
        (f"{lock_ms}ms", f"{stmt_ms}ms"),
    )


def keyset_batch(
    conn: Connection,
    batch: BatchSql,
    claim: Claim,
    cursor: Cursor,
    size: int,
    *,
    store: Store,
    lock_ms: int,
    stmt_ms: int,
    lease_s: float,
    attempts: int,
    throttle_ms: float,
    generation: int | None = None,
) -> BatchOutcome:
    bounds = Bounds(cursor=cursor, lo=claim.lo, hi=claim.hi)
    params: dict[str, Any] = batch.bound_params(bounds)
    with conn.transaction():
        _set_timeouts(conn, lock_ms, stmt_ms)
        started = time.perf_counter()
        row = conn.execute(batch.boundary(bounds), {**params, "n": size}).fetchone()
        if row is None:
            return BatchOutcome(0, 0, cursor, (time.perf_counter() - started) * 1000, True)
        last = [str(v) for v in row[:-1]]
        scanned = int(row[-1])
        upd_params = {**params, **{f"u{i}": v for i, v in enumerate(last)}}
        updated = 0
        # The verification sweep reads first and writes only where a straggler exists.
        needed = (
            conn.execute(batch.keyset_check(bounds), upd_params).fetchone()
            if claim.phase == PHASE_VERIFY
            else None
        )
        if needed is None or needed[0]:
            counted = conn.execute(batch.keyset_update(bounds), upd_params).fetchone()
            updated = int(counted[0]) if counted else 0
        duration = (time.perf_counter() - started) * 1000
        store.commit_batch(
            conn,
            claim,
            BatchRecord(cursor, last, size, scanned, updated, duration, attempts, throttle_ms),
            lease_s,
            generation=generation,
        )
    # Not done on a short batch: one more (cheap) probe picks up keys inserted meanwhile.
    return BatchOutcome(scanned, updated, last, duration, False)


def ctid_batch(
    conn: Connection,
    batch: BatchSql,
    claim: Claim,
    cursor: Cursor,
    size: int,
    *,
    rows_per_page: float,
    store: Store,
    lock_ms: int,
    stmt_ms: int,
    lease_s: float,
    attempts: int,
    throttle_ms: float,
    generation: int | None = None,
) -> BatchOutcome:
    """``cursor`` is the first page not done yet; the last range is open and follows growth."""
    start = int(cursor) if isinstance(cursor, int) else int(claim.lo or 0)  # type: ignore[arg-type]
    with conn.transaction():
        _set_timeouts(conn, lock_ms, stmt_ms)
        end: int
        if claim.hi is None:
            row = conn.execute(
                "SELECT (pg_relation_size(%s::regclass) / current_setting('block_size')::int)",
                (_regclass(batch),),
            ).fetchone()
            end = int(row[0]) if row else 0
        else:
            end = int(claim.hi)  # type: ignore[arg-type]
        if start >= end:
            return BatchOutcome(0, 0, start, 0.0, True)
        pages = max(1, int(size / max(rows_per_page, 1.0)))
        stop = min(end, start + pages)
        started = time.perf_counter()
        row = conn.execute(batch.ctid_update(), {"lo": tid(start), "hi": tid(stop)}).fetchone()
        scanned, updated = (int(row[0]), int(row[1])) if row else (0, 0)
        duration = (time.perf_counter() - started) * 1000
        store.commit_batch(
            conn,
            claim,
            BatchRecord(start, stop, size, scanned, updated, duration, attempts, throttle_ms),
            lease_s,
            generation=generation,
        )
    # Size ctid batches by pages read, not live rows found: all-dead pages cost time too.
    work = int((stop - start) * max(rows_per_page, 1.0))
    return BatchOutcome(scanned, updated, stop, duration, False, work)


def _regclass(batch: BatchSql) -> str:
    return f"{_quote(batch.spec.schema)}.{_quote(batch.spec.table)}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
