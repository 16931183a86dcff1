"""What `ec plan` says about cost: rows to touch, what each step does to its table (catalog
only, scan, rewrite) and a duration from a short measured sample.

Every table read here happens in one READ ONLY transaction per table that is rolled back,
with ``lock_timeout`` and ``statement_timeout`` set from a hard budget: it takes ACCESS SHARE
at most (no row locks) and gives up - saying so - rather than wait behind live traffic or a
lock. A never-analysed table gets its rows from a TABLESAMPLE SYSTEM count (a few hundred
pages, never the whole table); an analysed one from pg_class scaled to its current size, as
the planner does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from expandcontract.dsn import to_psycopg
from expandcontract.operations.base import CATALOG, NONE, SCAN, PlannedStep

if TYPE_CHECKING:
    from expandcontract.engine.plan import Plan

SAMPLE_PAGES = 200  # pages a sample reads at most (1.6 MB)
BUDGET_MS = 300  # per table: the whole sample transaction, enforced by statement_timeout
LOCK_WAIT_MS = 50  # a table locked by someone else: no sample rather than a wait

# How much longer than reading its pages (or rows) at the sampled rate a step takes,
# measured with bench/plan_estimates.py on unanalysed 50k-1M row tables, PG 18 and
# PG 15: a full scan 0.43-0.65x, CREATE INDEX CONCURRENTLY 4.4-8.1x, ec's backfill of a type
# change 92-134x per row. The ranges are wider than that: the sample may read cached pages
# where the step reads cold ones, and the backfill throttles itself under load.
SCAN_FACTOR = (0.3, 1.5)
INDEX_BUILD_FACTOR = (3.0, 15.0)
BACKFILL_FACTOR = (60.0, 250.0)

STATISTICS = "statistics"
SAMPLED = "sampled"
COUNTED = "counted"
UNKNOWN = "unknown"

_QUALIFIED = re.compile(r'"((?:[^"]|"")+)"\."((?:[^"]|"")+)"')


@dataclasses.dataclass(frozen=True)
class RowEstimate:
    rows: int | None
    source: str  # STATISTICS, SAMPLED, COUNTED or UNKNOWN

    def text(self) -> str:
        if self.rows is None:
            return "unknown rows"
        return f"~{self.rows:,} rows ({self.source})"


@dataclasses.dataclass(frozen=True)
class TableSample:
    """One table as measured at plan time."""

    schema: str
    table: str
    rows: RowEstimate
    pages: int | None  # current size in pages
    seconds_per_page: float | None  # read rate of the sampled pages
    seconds_per_row: float | None
    problem: str | None = None  # why there is no sample


@dataclasses.dataclass(frozen=True)
class Duration:
    low_s: float | None
    high_s: float | None
    basis: str

    def text(self) -> str:
        if self.low_s is None or self.high_s is None:
            return "unknown"
        if self.high_s == 0:
            return "instant"
        if self.high_s < 1:
            return "< 1 s"
        high = _rounded(self.high_s)
        if self.low_s < 1:
            return f"up to {high}"
        low = _rounded(self.low_s)
        return f"~{high}" if low == high else f"{low} to {high}"

    def as_json(self) -> dict[str, Any]:
        return {
            "low_s": None if self.low_s is None else round(self.low_s, 3),
            "high_s": None if self.high_s is None else round(self.high_s, 3),
            "text": self.text(),
            "basis": self.basis,
        }


@dataclasses.dataclass(frozen=True)
class StepEstimate:
    effect: str  # "catalog-only", "scan", "index build", "rewrite", "none", "unknown"
    table: str | None
    duration: Duration

    @property
    def rewrites(self) -> bool:
        return self.effect == "rewrite"

    @property
    def scans(self) -> bool:
        return self.effect in ("scan", "index build", "rewrite")

    def as_json(self) -> dict[str, Any]:
        return {
            "effect": self.effect,
            "rewrites": self.rewrites,
            "scans": self.scans,
            "table": self.table,
            "estimated_duration": self.duration.as_json(),
        }


@dataclasses.dataclass(frozen=True)
class BackfillEstimate:
    table: str
    rows: RowEstimate
    duration: Duration

    def as_json(self) -> dict[str, Any]:
        return {
            "estimated_rows": self.rows.rows,
            "rows_source": self.rows.source,
            "rewrites": True,  # every row is updated, in batches
            "estimated_duration": self.duration.as_json(),
        }


@dataclasses.dataclass(frozen=True)
class PlanEstimates:
    steps: dict[str, list[StepEstimate]]
    backfills: list[BackfillEstimate]
    tables: dict[str, TableSample]
    budget_ms: int = BUDGET_MS


def estimate_plan(url: str, plan: Plan, *, budget_ms: int = BUDGET_MS) -> PlanEstimates:
    """Estimates for every step and backfill of ``plan``. Reads only: at most ``budget_ms``
    of statement time per table, each table in its own rolled-back READ ONLY transaction."""
    with psycopg.connect(to_psycopg(url), autocommit=True, connect_timeout=10) as conn:
        conn.execute("SET application_name = 'ec plan estimates'")
        return _estimate(conn, plan, budget_ms)


def _estimate(conn: psycopg.Connection[Any], plan: Plan, budget_ms: int) -> PlanEstimates:
    tables = _tables_of(conn, plan.base_schema)
    touched: set[str] = set()  # tables a step scans or a backfill rewrites: sampled
    step_tables: dict[str, list[str | None]] = {}
    for phase, steps in plan.phases.items():
        step_tables[phase] = [_table_of(step, plan.base_schema, tables) for step in steps]
        for step, table in zip(steps, step_tables[phase], strict=True):
            if table is not None and step.duration == SCAN:
                touched.add(table)
    touched |= {job.table for job in plan.backfills}
    samples = {
        t: sample_table(conn, plan.base_schema, t, budget_ms=budget_ms) for t in sorted(touched)
    }
    steps_out = {
        phase: [
            step_estimate(step, samples.get(table) if table else None, table)
            for step, table in zip(steps, step_tables[phase], strict=True)
        ]
        for phase, steps in plan.phases.items()
    }
    backfills = [
        BackfillEstimate(job.table, samples[job.table].rows, _backfill_duration(samples[job.table]))
        for job in plan.backfills
    ]
    return PlanEstimates(steps_out, backfills, samples, budget_ms)


def sample_table(
    conn: psycopg.Connection[Any],
    schema: str,
    table: str,
    *,
    budget_ms: int = BUDGET_MS,
    lock_wait_ms: int = LOCK_WAIT_MS,
) -> TableSample:
    """Rows and read rate of one table, within ``budget_ms`` of statement time. ``conn`` is
    in autocommit mode: the sample opens and rolls back its own transaction."""
    stats = conn.execute(
        "SELECT c.reltuples::float8, c.relpages FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
        (schema, table),
    ).fetchone()
    if stats is None:
        return TableSample(schema, table, RowEstimate(None, UNKNOWN), None, None, None, "missing")
    reltuples, relpages = float(stats[0]), int(stats[1])
    ref = sql.Identifier(schema, table)
    started = time.perf_counter()

    def remaining_ms() -> int:
        return max(1, budget_ms - int((time.perf_counter() - started) * 1000))

    def limited(query: sql.SQL | sql.Composed, params: tuple[Any, ...] | dict[str, Any]) -> Any:
        conn.execute("SELECT set_config('statement_timeout', %s, true)", (f"{remaining_ms()}ms",))
        return conn.execute(query, params).fetchone()

    pages: int | None = None
    count: int | None = None
    percent = 100.0
    read_s: float | None = None
    problem: str | None = None
    try:
        conn.execute("BEGIN READ ONLY")
        conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{lock_wait_ms}ms",))
        # pg_relation_size takes ACCESS SHARE: behind an exclusive lock this is the wait that
        # fails. A partitioned table's pages are its partitions'.
        row = limited(
            sql.SQL(
                "SELECT (pg_relation_size(%(t)s::regclass) + coalesce((SELECT"
                " sum(pg_relation_size(relid)) FROM pg_partition_tree(%(t)s::regclass)"
                " WHERE relid <> %(t)s::regclass), 0))::bigint"
                " / current_setting('block_size')::int"
            ),
            {"t": ref.as_string(conn)},
        )
        pages = int(row[0])
        if pages > 0:
            percent = min(100.0, 100.0 * SAMPLE_PAGES / pages)
            query = sql.SQL("SELECT count(*) FROM {} TABLESAMPLE SYSTEM (%s) REPEATABLE (0)")
            begun = time.perf_counter()
            count = int(limited(query.format(ref), (percent,))[0])
            read_s = time.perf_counter() - begun
    except psycopg.errors.LockNotAvailable:
        problem = "locked by another session: not sampled"
    except psycopg.errors.QueryCanceled:
        problem = f"sample exceeded its {budget_ms} ms budget"
    except psycopg.errors.InsufficientPrivilege:
        problem = "no SELECT privilege on the table: not sampled"
    except psycopg.Error as exc:  # an estimate never fails the plan
        problem = f"not sampled ({type(exc).__name__}: {str(exc).strip()[:120]})"
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.execute("ROLLBACK")
    rows = _rows(reltuples, relpages, pages, count, percent)
    sampled_pages = None if pages is None else pages * percent / 100
    per_page = read_s / sampled_pages if read_s is not None and sampled_pages else None
    sampled_rows = None if count is None else count
    per_row = read_s / sampled_rows if read_s is not None and sampled_rows else None
    return TableSample(schema, table, rows, pages, per_page, per_row, problem)


def _rows(
    reltuples: float, relpages: int, pages: int | None, count: int | None, percent: float
) -> RowEstimate:
    # PG 14+: reltuples -1 = never vacuumed/analysed. Before 14 a never-analysed table shows
    # 0 tuples over 0 pages; 0 tuples over >0 pages is not to be believed either.
    analysed = reltuples > 0 and relpages > 0
    if analysed:
        scale = (pages / relpages) if pages is not None else 1.0
        return RowEstimate(round(reltuples * scale), STATISTICS)
    if pages == 0:
        return RowEstimate(0, COUNTED)
    if count is not None:
        if percent >= 100:
            return RowEstimate(count, COUNTED)
        return RowEstimate(round(count * 100 / percent), SAMPLED)
    return RowEstimate(None, UNKNOWN)


def step_estimate(step: PlannedStep, sample: TableSample | None, table: str | None) -> StepEstimate:
    """What ``step`` does to its table and how long it should take."""
    if step.duration == CATALOG:
        return StepEstimate(
            "catalog-only",
            table,
            Duration(0, 0, "catalog change; waits at most lock_timeout for its lock"),
        )
    if step.duration == NONE:
        return StepEstimate("none", table, Duration(0, 0, "no table is read"))
    if step.duration != SCAN:
        return StepEstimate(UNKNOWN, table, Duration(None, None, f"{step.duration} step"))
    effect = "index build" if step.creates_index else "scan"
    factor = INDEX_BUILD_FACTOR if step.creates_index else SCAN_FACTOR
    if sample is None or sample.pages is None:
        why = sample.problem if sample and sample.problem else "table not sampled"
        return StepEstimate(effect, table, Duration(None, None, why))
    if sample.pages == 0:
        return StepEstimate(effect, table, Duration(0, 0, "empty table"))
    if sample.seconds_per_page is None:
        return StepEstimate(effect, table, Duration(None, None, sample.problem or "no sample"))
    base = sample.pages * sample.seconds_per_page
    basis = f"{sample.pages:,} pages at the sampled read rate, x{factor[0]:g}-{factor[1]:g}"
    return StepEstimate(effect, table, Duration(base * factor[0], base * factor[1], basis))


def _backfill_duration(sample: TableSample) -> Duration:
    rows = sample.rows.rows
    if rows == 0:
        return Duration(0, 0, "no rows")
    if rows is None or sample.seconds_per_row is None:
        return Duration(None, None, sample.problem or "no sample")
    base = rows * sample.seconds_per_row
    low, high = BACKFILL_FACTOR
    basis = f"{rows:,} rows at the sampled read rate, x{low:g}-{high:g} for batched updates"
    return Duration(base * low, base * high, basis)


def _tables_of(conn: psycopg.Connection[Any], schema: str) -> set[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'm')",
        (schema,),
    ).fetchall()
    return {r[0] for r in rows}


def _table_of(step: PlannedStep, schema: str, tables: set[str]) -> str | None:
    """The first table of ``schema`` a step's SQL names (psycopg quotes every identifier)."""
    for statement in step.statements:
        for match in _QUALIFIED.finditer(statement.as_string(None)):
            found_schema, name = (part.replace('""', '"') for part in match.groups())
            if found_schema == schema and name in tables:
                return name
    return None


def _rounded(seconds: float) -> str:
    if seconds < 1:
        return "< 1 s" if seconds > 0 else "0 s"
    if seconds < 60:
        return f"{max(1, round(seconds)):d} s"
    if seconds < 3600:
        return f"{round(seconds / 60):d} min"
    return f"{seconds / 3600:.1f} h"
