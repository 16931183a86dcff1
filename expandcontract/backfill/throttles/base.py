"""What every throttle signal shares: a reading with enter/exit thresholds (hysteresis)."""

from __future__ import annotations

import dataclasses
from typing import Protocol

from expandcontract.runner.runner import Connection


@dataclasses.dataclass(frozen=True)
class Reading:
    """``breached``: pause now. ``clear``: healthy enough to count toward resuming.

    A value between the exit and the enter threshold is neither: a paused run stays paused,
    a running one keeps running. That gap is the hysteresis that prevents flapping.
    """

    breached: bool
    clear: bool
    detail: str
    value: float | None = None

    @classmethod
    def ok(cls, detail: str = "ok", value: float | None = None) -> Reading:
        return cls(False, True, detail, value)

    @classmethod
    def stop(cls, detail: str, value: float | None = None) -> Reading:
        return cls(True, False, detail, value)


def threshold(
    value: float, enter: float, *, exit_ratio: float = 0.5, what: str, unit: str = ""
) -> Reading:
    exit_at = enter * exit_ratio
    if value > enter:
        return Reading(True, False, f"{what} {value:g}{unit} > {enter:g}{unit}", value)
    return Reading(False, value <= exit_at, f"{what} {value:g}{unit}", value)


@dataclasses.dataclass(frozen=True)
class ProbeContext:
    """What a signal may look at: a monitoring connection (autocommit) and the target."""

    conn: Connection
    table_oid: int
    application_name: str


class Signal(Protocol):
    name: str

    def read(self, ctx: ProbeContext) -> Reading: ...
