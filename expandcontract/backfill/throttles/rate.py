"""A rows-per-second cap shared by all workers, as pacing rather than pauses.

Each worker takes its share of the global cap (cap / workers holding leases). Its batches are
kept to what the share allows in one batch target time, and each batch is followed by just
the wait that keeps the worker at its share: a smooth, even flow of small batches instead of
full-size bursts followed by long sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable

# How long a worker count read from the ledger is trusted (one query per refresh, not per batch).
_WORKERS_REFRESH_S = 1.0


class RateCap:
    def __init__(
        self,
        rows_per_second: float,
        workers: Callable[[], int],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rows_per_second = rows_per_second
        self._workers = workers
        self._clock = clock
        self._next_allowed = clock()
        self._share: float | None = None
        self._share_at = float("-inf")

    def share(self) -> float:
        """This worker's rows per second."""
        now = self._clock()
        if self._share is None or now - self._share_at >= _WORKERS_REFRESH_S:
            self._share = self.rows_per_second / max(1, self._workers())
            self._share_at = now
        return self._share

    def batch_limit(self, target_s: float) -> int:
        """The largest batch that fits the share in one batch target time."""
        return max(1, int(self.share() * target_s))

    def delay_after(self, rows: int) -> float:
        """Seconds to wait after a batch of ``rows`` so the long-run rate stays under the cap."""
        share = self.share()
        now = self._clock()
        # Budget left unused (a slow batch, a pause) is not saved up beyond this batch's own
        # slot: no burst after a pause, the flow stays even.
        start = max(self._next_allowed, now - rows / share)
        self._next_allowed = start + rows / share
        return max(0.0, self._next_allowed - now)
