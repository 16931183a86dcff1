"""Active sessions compared to a baseline taken when the run started: a busier database
than usual (a traffic spike, a pile-up) pauses the backfill until it calms down."""

from __future__ import annotations

import dataclasses

from expandcontract.backfill.throttles.base import ProbeContext, Reading

_ACTIVE = """
SELECT count(*) FROM pg_stat_activity
WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND application_name NOT LIKE 'ec-backfill%%'
"""


def count_active(ctx: ProbeContext) -> int:
    row = ctx.conn.execute(_ACTIVE).fetchone()
    return int(row[0]) if row else 0


@dataclasses.dataclass
class ActiveSessions:
    factor: float
    min_extra: int
    baseline: int | None = None
    name: str = "active_sessions"

    def limit(self) -> float:
        base = self.baseline or 0
        return max(base * self.factor, base + self.min_extra)

    def read(self, ctx: ProbeContext) -> Reading:
        active = count_active(ctx)
        if self.baseline is None:
            self.baseline = active
        limit = self.limit()
        exit_at = (self.baseline + limit) / 2
        detail = f"{active} active sessions (baseline {self.baseline}, limit {limit:g})"
        if active > limit:
            return Reading.stop(detail, active)
        return Reading(False, active <= exit_at, detail, active)
