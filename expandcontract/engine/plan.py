"""Compile a migration into a Plan: the steps of every phase, built once at expand time and
stored in the ledger, so a resumed, contracted or rolled-back migration runs exactly the SQL
that was planned (and that `ec plan` showed)."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from expandcontract.engine.contract import reconcile_columns, reconcile_tables
from expandcontract.engine.grants import read_carried_over
from expandcontract.engine.migration import Migration
from expandcontract.engine.rollback import retire_steps
from expandcontract.engine.triggers import pending_index_step, trigger_steps
from expandcontract.engine.validate import check_dependents, validate
from expandcontract.engine.views import drop_version_schema, view_steps
from expandcontract.operations.base import CATALOG, DualWrite, MigrationInvalid, PlannedStep
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.state import PENDING, VersionState
from expandcontract.runner.policy import RetryPolicy
from expandcontract.schema.introspect import introspect

if TYPE_CHECKING:
    from expandcontract.engine.estimates import PlanEstimates

PHASES = ("expand", "contract", "rollback")


@dataclasses.dataclass(frozen=True)
class BackfillJob:
    """Rows of ``table`` still marked pending get their new-version values (the trigger
    computes them when the backfill touches the row)."""

    schema: str
    table: str
    estimated_rows: int
    key: tuple[str, ...] = ()  # primary key columns (names rows in messages); () = ctid

    @property
    def name(self) -> str:
        return f"ec:{self.schema}.{self.table}"


@dataclasses.dataclass
class Plan:
    migration: str
    checksum: str
    base_schema: str
    version_schema: str
    old_schema: str
    phases: dict[str, list[PlannedStep]]
    backfills: list[BackfillJob]
    warnings: list[str] = dataclasses.field(default_factory=list)

    def to_json(
        self, conn: psycopg.Connection[Any] | None = None, estimates: PlanEstimates | None = None
    ) -> dict[str, Any]:
        """The plan as stored in the ledger; with ``estimates`` (what `ec plan` shows), each
        step and backfill also says what it does to its table and how long it should take."""
        phases = {
            phase: [_step_json(step, conn) for step in steps]
            for phase, steps in self.phases.items()
        }
        backfills = [dataclasses.asdict(job) for job in self.backfills]
        if estimates is not None:
            for phase, step_list in phases.items():
                for data, estimate in zip(step_list, estimates.steps[phase], strict=True):
                    data.update(estimate.as_json())
            for job, backfill in zip(backfills, estimates.backfills, strict=True):
                job.update(backfill.as_json())
        out = {
            "migration": self.migration,
            "checksum": self.checksum,
            "base_schema": self.base_schema,
            "version_schema": self.version_schema,
            "old_schema": self.old_schema,
            "phases": phases,
            "backfills": backfills,
            "warnings": self.warnings,
        }
        if estimates is not None:
            out["estimates"] = {"sample_budget_ms_per_table": estimates.budget_ms}
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        return cls(
            migration=data["migration"],
            checksum=data["checksum"],
            base_schema=data["base_schema"],
            version_schema=data["version_schema"],
            old_schema=data["old_schema"],
            phases={
                phase: [_step_from(s) for s in steps] for phase, steps in data["phases"].items()
            },
            backfills=[
                BackfillJob(**{**_known(BackfillJob, job), "key": tuple(job.get("key") or ())})
                for job in data["backfills"]
            ],
            warnings=list(data.get("warnings", [])),
        )


def _step_json(step: PlannedStep, conn: psycopg.Connection[Any] | None) -> dict[str, Any]:
    data = dataclasses.asdict(step)
    data["statements"] = [s.as_string(conn) for s in step.statements]
    return data


def _step_from(data: dict[str, Any]) -> PlannedStep:
    # Statements were composed with psycopg.sql when planned; stored text is replayed as is.
    statements = tuple(sql.SQL(s) for s in data["statements"])
    creates = tuple(data["creates_index"]) if data.get("creates_index") else None
    # Plans stored before the flag have no multi_statement.
    data = {"multi_statement": ":sql:" in data["key"], **_known(PlannedStep, data)}
    return PlannedStep(**{**data, "statements": statements, "creates_index": creates})


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``cls`` in ``data``: `ec plan --json` adds estimates to steps and jobs."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def build_plan_politely(
    conn: psycopg.Connection[Any],
    migration: Migration,
    base_schema: str,
    old_schema: str,
    policy: RetryPolicy,
) -> Plan:
    """:func:`build_plan` under ``lock_timeout``, retried with the policy's jittered backoff.

    Planning only reads, but some catalog functions (pg_get_indexdef, EXPLAIN of an
    expression) wait for a table's lock: behind another session's ACCESS EXCLUSIVE, planning
    would hang for as long as that session holds it. Now it waits politely and then says why.
    """
    attempt = 0
    started = time.monotonic()
    previous = conn.execute("SELECT current_setting('lock_timeout')").fetchone()
    conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{policy.lock_timeout_ms}ms",))
    try:
        while True:
            attempt += 1
            try:
                return build_plan(conn, migration, base_schema, old_schema)
            except psycopg.errors.LockNotAvailable as exc:
                waited_ms = (time.monotonic() - started) * 1000
                if attempt >= policy.max_attempts or waited_ms >= policy.max_total_ms:
                    raise MigrationInvalid(
                        "planning waited for a table another session holds locked "
                        f"({attempt} attempts of lock_timeout {policy.lock_timeout_ms} ms): "
                        f"{str(exc).strip().splitlines()[0]}",
                        "a long transaction or a running DDL holds the table: find it in "
                        "pg_locks / pg_stat_activity, then plan again once it is released",
                    ) from None
                time.sleep(policy.delay_ms(attempt) / 1000)
    finally:
        if not conn.broken:
            conn.execute(
                "SELECT set_config('lock_timeout', %s, false)", (previous[0] if previous else "0",)
            )


def build_plan(
    conn: psycopg.Connection[Any], migration: Migration, base_schema: str, old_schema: str
) -> Plan:
    """Validate ``migration`` against the live schema and compile every phase.

    Raises MigrationInvalid, having executed nothing but catalog reads and rolled-back probes.
    """
    physical = introspect(conn, base_schema)
    state = VersionState(physical)
    wheres = [f"operation {i} ({op.kind})" for i, op in enumerate(migration.operations, start=1)]
    resolved = [
        op.apply(state, where=w) for op, w in zip(migration.operations, wheres, strict=True)
    ]
    ctx = PhaseContext(base_schema, migration.schema_for(base_schema), physical, state)
    validate(conn, ctx, list(zip(wheres, resolved, strict=True)))
    read_carried_over(conn, ctx)
    moved = {key for op in resolved for key in op.moved_foreign_keys()}
    check_dependents(conn, ctx, old_schema, moved)

    writes: dict[str, list[DualWrite]] = {}
    for op in resolved:
        for write in op.dual_writes(ctx):
            writes.setdefault(write.table, []).append(write)
    logical_by_physical = {t.physical: t for t in state.tables.values()}
    for table_name in writes:
        _check_trigger_names(ctx, table_name, logical_by_physical.get(table_name))
    pending_tables = [t for t in state.tables.values() if t.needs_backfill]

    kinds = [op.kind for op in migration.operations]

    def keyed(i: int, steps: list[PlannedStep]) -> list[PlannedStep]:
        return [dataclasses.replace(s, key=f"{i}:{kinds[i - 1]}:{s.key}") for s in steps]

    op_steps: list[PlannedStep] = []
    for i, op in enumerate(resolved, start=1):
        op_steps += keyed(i, op.expand(ctx))
    expand: list[PlannedStep] = [_add_pending(ctx, t.physical) for t in pending_tables]
    expand += [s for s in op_steps if s.stage == "columns"]
    for table_name, table_writes in writes.items():
        expand += trigger_steps(ctx, table_name, logical_by_physical.get(table_name), table_writes)
    expand += [s for s in op_steps if s.stage == "constraints"]
    expand += [s for s in op_steps if s.stage == "indexes"]
    expand += view_steps(ctx)

    # Contract retires the old version. First the trigger becomes strict (an old-version
    # write `up` cannot convert is refused from now on: it could not survive the swap) and
    # rows still pending are converted; then the slow VALIDATEs; the old version's schema
    # only right before the swaps that drop its columns.
    contract: list[PlannedStep] = [
        pending_index_step(ctx.schema, t.physical) for t in pending_tables
    ]
    for table_name, table_writes in writes.items():
        logical = logical_by_physical.get(table_name)
        if logical is not None and logical.needs_backfill:
            contract += trigger_steps(ctx, table_name, logical, table_writes, strict=True)
    for i, op in enumerate(resolved, start=1):
        contract += keyed(i, op.contract(ctx))
    if old_schema != base_schema:
        contract.append(drop_version_schema(ctx, old_schema, "old-version-schema"))
    contract += reconcile_columns(ctx, set(writes), [w for op in resolved for w in op.swap(ctx)])
    for i, op in enumerate(resolved, start=1):
        contract += keyed(i, op.after_swap(ctx))
    contract += reconcile_tables(ctx)

    # Rollback retires the new version: its schema first, then per table the trigger together
    # with expand's columns (one transaction), then each operation's own undo.
    rollback: list[PlannedStep] = [drop_version_schema(ctx, ctx.version_schema, "version-schema")]
    rollback += retire_steps(ctx, set(writes))
    for i, op in reversed(list(enumerate(resolved, start=1))):
        rollback += keyed(i, op.rollback(ctx))

    backfills = [
        BackfillJob(
            base_schema,
            t.physical,
            physical.tables[t.physical].estimated_rows,
            tuple(physical.tables[t.physical].primary_key),
        )
        for t in pending_tables
    ]
    return Plan(
        migration=migration.name,
        checksum=migration.checksum,
        base_schema=base_schema,
        version_schema=ctx.version_schema,
        old_schema=old_schema,
        phases={"expand": expand, "contract": contract, "rollback": rollback},
        backfills=backfills,
        warnings=_warnings(ctx, migration),
    )


# Names PL/pgSQL gives a meaning inside a trigger: a column variable of that name would hide it.
_TRIGGER_NAMES = {"new", "old", "tg_op", "tg_name", "tg_when", "tg_level", "tg_relid",
                  "tg_table_name", "tg_table_schema", "tg_nargs", "tg_argv", "found"}  # fmt: skip


def _check_trigger_names(ctx: PhaseContext, table: str, logical: Any) -> None:
    names = set(ctx.physical.tables[table].columns)
    if logical is not None:
        names |= set(logical.columns)
    clash = sorted(n for n in names if n.lower() in _TRIGGER_NAMES)
    if clash:
        raise MigrationInvalid(
            f"table {table!r} has column(s) {', '.join(clash)}, which the dual-write trigger "
            "cannot use as variable names",
            "rename the column in an earlier migration; this is not supported yet",
        )


def _add_pending(ctx: PhaseContext, table: str) -> PlannedStep:
    return PlannedStep(
        f"pending:{table}",
        f"row marker {PENDING} on {table} (constant default: catalog-only)",
        (
            sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} boolean DEFAULT true").format(
                ctx.table_ref(table), sql.Identifier(PENDING)
            ),
        ),
        "ACCESS EXCLUSIVE",
        CATALOG,
    )


def _warnings(ctx: PhaseContext, migration: Migration) -> list[str]:
    from expandcontract.operations.raw_sql import sql_warnings

    out = sql_warnings(migration.operations)
    if ctx.physical.server_version < 150000:
        out.append("views are created without security_invoker (needs PostgreSQL 15)")
    return out
