"""The governor: before each batch, sample every throttle signal (at most once per
check interval); while any is breached, back off (jittered, doubling) and re-sample until
every paused signal has been clear for ``clear_checks`` consecutive checks. With a
``session``, samples run on it and survive a lost connection (reconnect, sample again)."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from expandcontract.backfill.settings import BackfillSettings
from expandcontract.backfill.throttles.base import ProbeContext, Reading, Signal
from expandcontract.runner.reconnect import Reconnecting
from expandcontract.runner.runner import Connection

Emit = Callable[[str, dict[str, Any]], None]


class Governor:
    def __init__(
        self,
        signals: Sequence[Signal],
        ctx: ProbeContext,
        settings: BackfillSettings,
        *,
        emit: Emit,
        heartbeat: Callable[[str | None], None],
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        session: Reconnecting | None = None,
    ) -> None:
        self.signals = list(signals)
        self.ctx = ctx
        self.settings = settings
        self._emit = emit
        self._heartbeat = heartbeat
        self._sleep = sleep
        self._clock = clock
        self._session = session
        self._last_check = float("-inf")
        self._paused: dict[str, int] = {}  # signal name -> consecutive clear checks
        self._values: dict[str, float] = {}
        self.throttled_s = 0.0
        self.reason: str | None = None

    def _sample(self) -> dict[str, Reading]:
        self._last_check = self._clock()
        if self._session is None:
            return self._read(self.ctx)
        return self._session.run(self._read_on)

    def _read_on(self, conn: Connection) -> dict[str, Reading]:
        self.ctx = dataclasses.replace(self.ctx, conn=conn)
        return self._read(self.ctx)

    def _read(self, ctx: ProbeContext) -> dict[str, Reading]:
        return {s.name: s.read(ctx) for s in self.signals}

    def _update(self, readings: dict[str, Reading]) -> list[str]:
        """Apply hysteresis; returns the details of the signals that keep the run paused."""
        # The measured values (replica lag in s, ...) travel with throttle/resume events.
        self._values = {n: r.value for n, r in readings.items() if r.value is not None}
        for name, reading in readings.items():
            if reading.breached:
                self._paused[name] = 0
            elif name in self._paused:
                self._paused[name] = self._paused[name] + 1 if reading.clear else 0
                if self._paused[name] >= self.settings.clear_checks:
                    del self._paused[name]
        return [readings[n].detail for n in self._paused if n in readings]

    def wait_until_clear(self, *, force: bool = False) -> float:
        """Block while throttled; returns the seconds spent paused."""
        if not force and self._clock() - self._last_check < self.settings.check_interval_s:
            return 0.0
        reasons = self._update(self._sample())
        if not reasons:
            return 0.0
        started = self._clock()
        self.reason = "; ".join(reasons)
        names = sorted(self._paused)
        self._emit("throttle", {"reasons": names, "detail": self.reason, "values": self._values})
        self._heartbeat(self.reason)
        backoff = self.settings.backoff_min_s
        while reasons:
            self._sleep(random.uniform(backoff / 2, backoff))
            backoff = min(self.settings.backoff_max_s, backoff * 2)
            reasons = self._update(self._sample())
            detail = "; ".join(reasons) if reasons else None
            if detail and sorted(self._paused) != names:
                names = sorted(self._paused)
                self.reason = detail
                self._emit("throttle", {"reasons": names, "detail": detail, "values": self._values})
            self._heartbeat(detail)
        paused = self._clock() - started
        self.throttled_s += paused
        self._emit(
            "resume",
            {"paused_s": round(paused, 3), "after": self.reason, "values": self._values},
        )
        self.reason = None
        return paused
