"""Autovacuum working on the target table: let it finish rather than feed it more dead rows.
Anti-wraparound vacuums must never be disturbed; ``mode="any"`` pauses for every one."""

from __future__ import annotations

import dataclasses

from expandcontract.backfill.throttles.base import ProbeContext, Reading

_AUTOVACUUM_ON_TABLE = """
SELECT a.pid, a.query FROM pg_stat_progress_vacuum p
JOIN pg_stat_activity a ON a.pid = p.pid
WHERE p.relid = %s AND a.backend_type = 'autovacuum worker'
"""


@dataclasses.dataclass
class AutovacuumOnTable:
    mode: str = "wraparound"  # "any" | "wraparound"
    name: str = "autovacuum"

    def read(self, ctx: ProbeContext) -> Reading:
        rows = ctx.conn.execute(_AUTOVACUUM_ON_TABLE, (ctx.table_oid,)).fetchall()
        for pid, query in rows:
            wraparound = "wraparound" in (query or "")
            if self.mode == "any" or wraparound:
                kind = "anti-wraparound autovacuum" if wraparound else "autovacuum"
                return Reading.stop(f"{kind} is running on the table (pid {pid})", 1)
        return Reading.ok("no autovacuum on the table", 0)
