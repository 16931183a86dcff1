"""Manual pause/cancel: ``ec backfill pause|resume|cancel NAME`` set a flag in the ledger."""

from __future__ import annotations

from collections.abc import Callable

from expandcontract.backfill.errors import BackfillCancelled, BackfillFailed
from expandcontract.backfill.throttles.base import ProbeContext, Reading


class ManualPause:
    name = "manual"

    def __init__(self, requested: Callable[[], str | None]) -> None:
        self._requested = requested

    def read(self, ctx: ProbeContext) -> Reading:
        flag = self._requested()
        if flag == "cancel":
            raise BackfillCancelled("the backfill was cancelled (ec backfill cancel)")
        if flag == "stop":
            raise BackfillFailed("another worker of this backfill failed; see ec backfill status")
        if flag == "pause":
            return Reading.stop("paused by operator (ec backfill resume NAME to continue)", 1)
        return Reading.ok("not paused", 0)
