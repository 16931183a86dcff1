"""Dead-tuple ratio of the target table: every backfilled row leaves a dead version behind;
past the ratio, wait for (auto)vacuum to catch up instead of bloating the table further."""

from __future__ import annotations

import dataclasses

from expandcontract.backfill.throttles.base import ProbeContext, Reading, threshold

# Statistics start from zero in a database cloned from a template and after crash recovery,
# while pg_class.reltuples survives: take the larger live count, or a freshly reset table
# with a few updates would look 100% dead and pause the run until autovacuum comes by.
_DEAD = """
SELECT greatest(s.n_live_tup, c.reltuples::bigint), s.n_dead_tup
FROM pg_stat_all_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.relid = %s
"""


@dataclasses.dataclass
class DeadTuples:
    max_ratio: float
    min_rows: int = 10_000
    name: str = "dead_tuples"

    def read(self, ctx: ProbeContext) -> Reading:
        row = ctx.conn.execute(_DEAD, (ctx.table_oid,)).fetchone()
        if row is None:
            return Reading.ok("no table statistics yet")
        live, dead = int(row[0] or 0), int(row[1] or 0)
        if live + dead < self.min_rows:
            return Reading.ok(f"{dead} dead tuples (table below {self.min_rows} rows)", 0)
        ratio = round(dead / (live + dead), 4)
        return threshold(ratio, self.max_ratio, what="dead-tuple ratio")
