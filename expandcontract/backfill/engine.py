"""Work through one claimed range: throttle, size, run and checkpoint batches, recover from
timeouts (split and retry), lost connections (reconnect for up to ``reconnect_max_s``, reload
the committed cursor) and failing rows (bisect down to the one row and name its key). With
``run_lock`` set, every batch first checks that ec's run lock is still held."""

from __future__ import annotations

import dataclasses
import functools
import random
import time
from collections.abc import Callable
from typing import Any

import psycopg

from expandcontract.backfill.batches import BatchOutcome, ctid_batch, keyset_batch
from expandcontract.backfill.errors import BackfillFailed, BackfillRowError
from expandcontract.backfill.interruptions import check_run_lock
from expandcontract.backfill.settings import BackfillSettings
from expandcontract.backfill.sizing import BatchSizer
from expandcontract.backfill.statements import Bounds, Cursor, tid
from expandcontract.backfill.store import Claim, Store
from expandcontract.backfill.throttles import BlockingWatch, Governor, RateCap
from expandcontract.backfill.validate import Target
from expandcontract.dsn import display_text
from expandcontract.errors import ECError
from expandcontract.runner.reconnect import Reconnecting
from expandcontract.runner.runner import Connection

Emit = Callable[[str, dict[str, Any]], None]

_TIMEOUTS = (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable)
_TRANSIENT = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
_ROW_ERRORS = (psycopg.errors.DataError, psycopg.errors.IntegrityError)


def _first_line(exc: BaseException) -> str:
    text = display_text(str(exc).strip())
    return text.splitlines()[0] if text else type(exc).__name__


@dataclasses.dataclass
class _Position:
    """Where the range's next batch starts; ``reload`` after a lost connection."""

    cursor: Cursor
    reload: bool = False


@dataclasses.dataclass
class RangeStats:
    batches: int = 0
    scanned: int = 0
    updated: int = 0


class RangeRunner:
    """One worker's batch loop, on a session that reconnects after a loss."""

    def __init__(
        self,
        *,
        session: Reconnecting,
        target: Target,
        store: Store,
        settings: BackfillSettings,
        sizer: BatchSizer,
        governor: Governor,
        watch: BlockingWatch | None,
        rate: RateCap | None,
        emit: Emit,
        rows_per_page: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.session = session
        self.target = target
        self.store = store
        self.settings = settings
        self.sizer = sizer
        self.governor = governor
        self.watch = watch
        self.rate = rate
        self.emit = emit
        self.rows_per_page = rows_per_page
        self._sleep = sleep
        self._pending_throttle_ms = 0.0
        self._paced_at: tuple[float, int] | None = None  # (share, batch limit) last announced

    def close(self) -> None:
        self.session.close()

    def run(self, claim: Claim) -> RangeStats:
        stats = RangeStats()
        cursor: Cursor = claim.cursor
        # A failing row is found by bisection: batches stay under this ceiling meanwhile.
        ceiling: int | None = None
        self.emit("range", {"phase": claim.phase, "range": claim.range_no, "cursor": cursor})
        while True:
            self._pending_throttle_ms += self.governor.wait_until_clear() * 1000
            outcome, cursor, ceiling = self._batch_with_retries(claim, cursor, ceiling)
            if outcome.done:
                break
            stats.batches += 1
            stats.scanned += outcome.scanned
            stats.updated += outcome.updated
            self.sizer.observe(outcome.effort, outcome.duration_ms)
            if self.watch is not None and self.watch.batch_seen:
                # This batch made application sessions wait: halve it, and stop growing
                # past that size for the rest of the run (fewer rows locked at a time).
                self.sizer.shrink(cap=True)
            self.emit(
                "batch",
                {
                    "phase": claim.phase,
                    "range": claim.range_no,
                    "rows_scanned": outcome.scanned,
                    "rows_updated": outcome.updated,
                    "duration_ms": round(outcome.duration_ms, 3),
                    "next_batch_size": self._size(ceiling),
                    "cursor": cursor,
                },
            )
            self._pace(outcome, claim)
        self._finish_range(claim)
        self.emit("range_done", {"phase": claim.phase, "range": claim.range_no})
        return stats

    def _finish_range(self, claim: Claim) -> None:
        """Mark the range done (repeatable: the same UPDATE under our lease token)."""
        self.session.run(lambda conn: self.store.finish_range(conn, claim))

    def _size(self, ceiling: int | None) -> int:
        """The next batch's rows: the sizer's choice, under a bisection ceiling and, with a
        rate cap, no more than the cap allows in one batch target time (small, even batches)."""
        size = self.sizer.size if ceiling is None else min(self.sizer.size, ceiling)
        if self.rate is None:
            return size
        limit = self.rate.batch_limit(self.settings.batch_target_ms / 1000)
        paced = (self.rate.share(), limit)
        if paced != self._paced_at:  # a state, said once (and again if the share changes)
            self._paced_at = paced
            share = round(paced[0], 1)
            self.emit("pacing", {"rows_per_second": self.rate.rows_per_second,
                                 "worker_share": share, "batch_limit": limit})  # fmt: skip
        return min(size, limit)

    def _pace(self, outcome: BatchOutcome, claim: Claim) -> None:
        """Pacing (nice_ratio, the rate cap) is the run's chosen speed, not a pause: it is
        neither a throttle event nor throttled time."""
        delay = self.settings.nice_ratio * outcome.duration_ms / 1000
        if self.rate is not None:
            delay = max(delay, self.rate.delay_after(outcome.scanned))
        if delay > 0:
            self._sleep_alive(delay, claim)

    def _sleep_alive(self, delay: float, claim: Claim) -> None:
        """Sleep ``delay`` in slices of at most a quarter lease, renewing the lease and the
        heartbeat between them: a paced run stays claimed and is never shown interrupted."""
        step = max(0.25, self.settings.lease_s / 4)
        while delay > 0:
            chunk = min(step, delay)
            self._sleep(chunk)
            delay -= chunk
            if delay > 0:
                self.session.run(
                    lambda conn: self.store.heartbeat(conn, claim, self.settings.lease_s, None)
                )

    def _run_once(
        self, conn: Connection, claim: Claim, cursor: Cursor, size: int, attempts: int
    ) -> BatchOutcome:
        # Another ec run may have taken the lock: not one more batch (nor sweep batch) then.
        check_run_lock(
            conn, self.settings.run_lock, self.store.schema, wait_s=self.settings.reconnect_max_s
        )
        common: dict[str, Any] = {
            "store": self.store,
            "lock_ms": self.settings.lock_timeout_ms,
            "stmt_ms": self.settings.batch_statement_timeout_ms,
            "lease_s": self.settings.lease_s,
            "attempts": attempts,
            "throttle_ms": self._pending_throttle_ms,
            "generation": self.settings.run_lock[2] if self.settings.run_lock else None,
        }
        if self.watch is not None:
            self.watch.start()
        try:
            if self.target.key.is_ctid:
                return ctid_batch(
                    conn, self.target.batch, claim, cursor, size,
                    rows_per_page=self.rows_per_page, **common,
                )  # fmt: skip
            return keyset_batch(conn, self.target.batch, claim, cursor, size, **common)
        finally:
            if self.watch is not None:
                self.watch.stop()

    def _batch_with_retries(
        self, claim: Claim, cursor: Cursor, ceiling: int | None
    ) -> tuple[BatchOutcome, Cursor, int | None]:
        failures = 0
        attempts = 0
        at = _Position(cursor)

        def lost(exc: BaseException, attempt: int) -> None:
            at.reload = True  # the batch may or may not have committed: reload the cursor
            self.emit("retry", {"error": _first_line(exc), "attempt": attempt,
                                "reconnect": True})  # fmt: skip

        while True:
            attempts += 1
            size = self._size(ceiling)
            batch = functools.partial(self._batch_at, claim, at, size, attempts)
            try:
                outcome = self.session.run(batch, on_retry=lost)
            except _ROW_ERRORS as exc:
                if size > 1:
                    ceiling = max(1, size // 2)
                    self.emit("split", {"reason": "row error", "next_batch_size": ceiling,
                                        "error": _first_line(exc)})  # fmt: skip
                    continue
                raise self._row_error(at.cursor, claim, exc) from None
            except _TIMEOUTS as exc:
                failures += 1
                self._give_up_after(failures, at.cursor, exc)
                self.sizer.split()
                self.emit("split", {"reason": type(exc).__name__, "error": _first_line(exc),
                                    "next_batch_size": self.sizer.size})  # fmt: skip
                self._backoff(failures)
                continue
            except (*_TRANSIENT, psycopg.OperationalError) as exc:
                # Deadlock, serialization failure, or a server-side error that left the
                # session usable (lost sessions are retried by the session itself).
                failures += 1
                self._give_up_after(failures, at.cursor, exc)
                self.emit("retry", {"error": _first_line(exc), "attempt": failures})
                self._backoff(failures)
                at.reload = True
                continue
            self._pending_throttle_ms = 0.0
            return outcome, (outcome.last if not outcome.done else at.cursor), ceiling

    def _batch_at(
        self, claim: Claim, at: _Position, size: int, attempts: int, conn: Connection
    ) -> BatchOutcome:
        if at.reload:
            at.cursor = self.store.reload(conn, claim)
            at.reload = False
        return self._run_once(conn, claim, at.cursor, size, attempts)

    def _give_up_after(self, failures: int, cursor: Cursor, exc: BaseException) -> None:
        if failures >= self.settings.max_attempts:
            raise BackfillFailed(
                f"batch after key {cursor} failed {failures} times in a row: {_first_line(exc)}",
                "the committed batches are kept; fix the cause (locks, timeouts) and re-run "
                "`ec backfill run` with the same name to resume",
            ) from None

    def _backoff(self, failures: int) -> None:
        window = min(5.0, 0.05 * 2**failures)
        self._sleep(random.uniform(window / 4, window))

    def _row_error(self, cursor: Cursor, claim: Claim, exc: BaseException) -> BackfillRowError:
        key = self._failing_key(cursor, claim)
        where = self.target.qualified
        return BackfillRowError(
            f"row {key} of {where} makes the backfill fail: {_first_line(exc)}",
            "fix that row (or make the expression handle it) and re-run with the same name: "
            "the rows before it are done and kept",
            key=key,
        )

    def _failing_key(self, cursor: Cursor, claim: Claim) -> str:
        key = self.target.key
        try:
            if key.is_ctid:
                start = int(cursor) if isinstance(cursor, int) else int(claim.lo or 0)  # type: ignore[arg-type]
                return f"on page {start} (ctid {tid(start)} .. {tid(start + 1)})"
            bounds = Bounds(cursor=cursor, lo=claim.lo, hi=claim.hi)
            params = {**self.target.batch.bound_params(bounds), "n": 1}
            row = self.session.run(
                lambda conn: conn.execute(self.target.batch.boundary(bounds), params).fetchone()
            )
        except (psycopg.Error, ECError):
            return f"after key {cursor}"
        if row is None:
            return f"after key {cursor}"
        return "(" + ", ".join(key.columns) + ")=(" + ", ".join(str(v) for v in row[:-1]) + ")"
