"""Replica replay lag: on the primary from pg_stat_replication, plus an optional user query
(a heartbeat table read through dblink, a monitoring view...) returning seconds."""

from __future__ import annotations

import dataclasses

import psycopg
from psycopg import sql

from expandcontract.backfill.throttles.base import ProbeContext, Reading, threshold

# replay_lag goes NULL when a standby is idle and caught up; byte lag is not a time, so
# a standby with unreplayed WAL but no recent reply still counts via write/flush lag.
_REPLICATION_LAG = """
SELECT COALESCE(max(extract(epoch FROM GREATEST(replay_lag, flush_lag, write_lag))), 0)::float8
FROM pg_stat_replication
"""


@dataclasses.dataclass
class ReplicaLag:
    max_lag_s: float
    lag_query: str | None = None
    name: str = "replica_lag"

    def read(self, ctx: ProbeContext) -> Reading:
        try:
            lag = _scalar(ctx, _REPLICATION_LAG)
            if self.lag_query:
                lag = max(lag, _scalar(ctx, self.lag_query))
        except (psycopg.Error, TypeError, ValueError) as exc:
            if ctx.conn.broken:
                raise  # a lost session, not an unmeasurable lag: the caller reconnects
            # Fail closed: a lag we cannot measure might be a lag we cannot afford.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return Reading.stop(f"replica lag probe failed: {first}")
        return threshold(lag, self.max_lag_s, what="replica lag", unit="s")


def _scalar(ctx: ProbeContext, query: str) -> float:
    with ctx.conn.transaction():
        ctx.conn.execute("SET LOCAL statement_timeout = '5s'")
        row = ctx.conn.execute(sql.SQL(query)).fetchone()
    if row is None or row[0] is None:
        return 0.0
    return float(row[0])
