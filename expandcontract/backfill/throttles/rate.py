"""A rows-per-second cap shared by all workers: each takes its share of the global cap."""

from __future__ import annotations

import time
from collections.abc import Callable


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

    def delay_after(self, rows: int) -> float:
        """Seconds to wait after a batch of ``rows`` so the long-run rate stays under the cap."""
        share = self.rows_per_second / max(1, self._workers())
        now = self._clock()
        start = max(self._next_allowed, now - 1.0)  # unused budget older than 1 s is lost
        self._next_allowed = start + rows / share
        return max(0.0, self._next_allowed - now)
