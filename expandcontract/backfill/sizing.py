"""Adaptive batch size: steer each batch toward a target duration.

The signal is the batch statement's own duration per row scanned (it scales with batch
size, unlike time spent queued or throttled), smoothed with an EWMA. Growth is capped at
x1.5 per step; a batch far over target shrinks the next one hard at once (Spirit's
"panic"), and a timeout halves it (the batch is split and retried).
"""

from __future__ import annotations

import dataclasses

from expandcontract.backfill.settings import BackfillSettings

_ALPHA = 0.5  # weight of the newest sample; reacts within a few batches


@dataclasses.dataclass
class BatchSizer:
    target_ms: float
    size: int
    min_rows: int
    max_rows: int
    max_growth: float
    panic_factor: float
    panic_divisor: float
    ms_per_row: float | None = None

    @classmethod
    def from_settings(cls, s: BackfillSettings) -> BatchSizer:
        return cls(
            target_ms=s.batch_target_ms,
            size=s.batch_start_rows,
            min_rows=s.batch_min_rows,
            max_rows=s.batch_max_rows,
            max_growth=s.batch_max_growth,
            panic_factor=s.panic_factor,
            panic_divisor=s.panic_divisor,
        )

    def _clamp(self, n: float) -> int:
        return int(max(self.min_rows, min(self.max_rows, n)))

    def observe(self, rows: int, duration_ms: float) -> int:
        """Feed one finished batch (rows scanned, statement time); returns the next size."""
        if rows <= 0:
            return self.size
        duration_ms = max(duration_ms, 0.01)
        if duration_ms > self.panic_factor * self.target_ms:
            self.ms_per_row = duration_ms / rows
            self.size = self._clamp(min(self.size, rows) / self.panic_divisor)
            return self.size
        sample = duration_ms / rows
        self.ms_per_row = (
            sample if self.ms_per_row is None else _ALPHA * sample + (1 - _ALPHA) * self.ms_per_row
        )
        proposal = self.target_ms / self.ms_per_row
        if rows < self.size * 0.9:
            # A short batch (end of a range) says little about larger ones: do not grow on it.
            proposal = min(proposal, self.size)
        self.size = self._clamp(min(proposal, self.size * self.max_growth))
        return self.size

    def split(self) -> int:
        """After a statement or lock timeout: retry with half the rows (down to one row)."""
        self.size = max(1, self.size // 2)
        return self.size

    def shrink(self, factor: float = 0.5, *, cap: bool = False, cap_floor: int = 1000) -> int:
        """Sessions were blocked by our batch: shorter transactions hold locks for less time.
        ``cap`` also lowers the ceiling to the new size (not below ``cap_floor``), so the
        controller does not grow straight back into the size that blocked the application."""
        self.size = self._clamp(self.size * factor)
        if cap:
            self.max_rows = max(self.min_rows, min(self.max_rows, max(self.size, cap_floor)))
        return self.size
