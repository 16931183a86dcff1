"""The backfill phase of a migration, run by the backfill engine.

Each table with pending rows is backfilled by touching the rows still marked ``_ec_pending``:
the dual-write trigger computes every new-version column from ``up`` as the row is touched,
in the engine's batched, throttled, resumable UPDATEs. The engine's final sweep proves every
row was touched.

A row whose ``up`` fails on its data (``email::integer`` on ``'abc'``) does not stop the
backfill and does not fail the old version's writes: the trigger leaves it pending. Then a
partial index of pending rows is built (empty when all went well) and the rows still pending
are listed with their key and error; the phase is done only when none is left. Fixing a row
as the old version converts it on the spot, so `ec apply` again only has to re-check.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import psycopg
from psycopg import sql

from expandcontract.backfill import BackfillSettings, run_backfill
from expandcontract.config import Settings
from expandcontract.engine.phases import BackfillFn, to_step
from expandcontract.engine.plan import BackfillJob
from expandcontract.engine.selector import as_version
from expandcontract.engine.triggers import (
    STRICT_SETTING,
    convert_pending,
    pending_index_name,
    pending_index_step,
)
from expandcontract.errors import ConfigError, ECError
from expandcontract.health import CommandProbe, HealthGate, UrlProbe
from expandcontract.ledger import ExclusiveRun, MigrationRecord
from expandcontract.ledger.lock import RunLockLost
from expandcontract.observe import current_observer, deliver
from expandcontract.operations.state import PENDING
from expandcontract.runner import RetryPolicy, SafeRunner, Step

_LISTED = 10  # rows named in the message; `ec status` shows the count
# The run lock of the engine command running now (set by Engine._exclusive): the backfill's
# workers check it before every batch, and a keeper thread takes it again after a lost session.
current_run: ContextVar[ExclusiveRun | None] = ContextVar("expandcontract_run", default=None)


@dataclasses.dataclass(frozen=True)
class BackfillHealth:
    """``ec apply --health-…``: the backfill pauses while the gate's probe fails; with
    ``give_up`` (``--on-failure rollback``) it stops at the gate's consecutive failures."""

    gate: HealthGate
    give_up: bool = False


# The health gate of the engine command running now (set by Engine.apply).
current_health: ContextVar[BackfillHealth | None] = ContextVar("ec_backfill_health", default=None)


@contextlib.contextmanager
def health_gated(health: BackfillHealth | None) -> Iterator[None]:
    """The backfills run meanwhile (table_backfill) are gated by ``health``."""
    token = current_health.set(health)
    try:
        yield
    finally:
        current_health.reset(token)


class PendingRows(ECError):
    """Rows `up` cannot convert: the migration cannot complete until they are fixed."""

    def __init__(self, message: str, hint: str, rows: list[dict[str, str]], count: int) -> None:
        super().__init__(message, hint)
        self.rows = rows
        self.count = count


def backfill_name(job: BackfillJob, record: MigrationRecord) -> str:
    # The migration id keeps a re-applied (after rollback) migration from reusing old progress.
    return f"migration-{record.id}:{job.schema}.{job.table}"


def table_backfill(
    url: str, settings: Settings, *, tuning: BackfillSettings | None = None
) -> BackfillFn:
    def run(job: BackfillJob, record: MigrationRecord) -> None:
        # The backfill touches rows as the OLD version: the trigger then computes the new
        # columns from up. Declared explicitly, whatever the database's default search_path.
        session = as_version(url, record.old_schema or job.schema)
        run_lock = current_run.get()
        tuned = dataclasses.replace(
            tuning or BackfillSettings(),
            run_lock=run_lock.token() if run_lock is not None else None,
            reconnect_max_s=settings.retry_max_ms / 1000,
        )
        tuned = _with_health(tuned, current_health.get())
        with _keeping(run_lock), _as_ec_errors(job):
            result = run_backfill(
                session,
                table=job.table,
                schema=job.schema,
                assignments={PENDING: "false"},
                where=sql.Identifier(PENDING).as_string(None),
                name=backfill_name(job, record),
                settings=tuned,
                migration_id=record.id,
                ledger_schema=settings.ledger_schema,
                on_progress=_forwarding(job, backfill_name(job, record)),
            )
        if not result.verified:
            once = result.mode == "once"
            why = f": {result.mode_reason}" if once else ""
            raise ECError(
                f"the backfill of {job.schema}.{job.table} finished without being verified{why}",
                "grant TEMPORARY on the database to the migration role (ec asks PostgreSQL "
                "whether an expression is deterministic through a temporary view) and re-run "
                "`ec apply`"
                if once
                else "re-run `ec apply` to resume it",
            )
        policy = RetryPolicy.from_settings(settings)
        with SafeRunner(
            session,
            policy=policy,
            sink=None,
            guard=run_lock.check if run_lock is not None else None,
            fence=run_lock.fence if run_lock is not None else None,
        ) as runner:
            settle_pending(runner, job)

    return run


def _with_health(tuned: BackfillSettings, health: BackfillHealth | None) -> BackfillSettings:
    """The backfill's own health throttle, probing the gate's probe, with its policy."""
    if health is None:
        return tuned
    probe = health.gate.probe
    if health.give_up and tuned.workers > 1:
        raise ConfigError(
            "a health gate that rolls back (--on-failure rollback) needs a backfill with one "
            "worker: worker processes only pause on the probe",
            "run it with one worker, or without --on-failure rollback",
        )
    tuned = dataclasses.replace(
        tuned,
        health_command=probe.command if isinstance(probe, CommandProbe) else None,
        health_url=probe.url if isinstance(probe, UrlProbe) else None,
        health_timeout_s=probe.timeout_s if isinstance(probe, CommandProbe | UrlProbe) else 5.0,
    )
    if tuned.health_command is None and tuned.health_url is None:
        raise ConfigError("the backfill's health gate takes a command or a URL probe")
    give_up = health.gate.failures if health.give_up else None
    return dataclasses.replace(
        tuned, health_interval_s=health.gate.interval_s, health_give_up_after=give_up
    )


def _forwarding(job: BackfillJob, name: str) -> Callable[[dict[str, Any]], None] | None:
    """The backfill engine's events, as ``backfill`` events of the engine's stream. The
    observer is taken now: the backfill may call back from another thread."""
    observer = current_observer.get()
    if observer is None:
        return None

    def forward(data: dict[str, Any]) -> None:
        event = {"event": "backfill", "ts": round(time.time(), 3), "table": job.table}
        deliver(observer, {**event, "name": name, "data": data})

    return forward


@contextlib.contextmanager
def _as_ec_errors(job: BackfillJob) -> Iterator[None]:
    """A database error the backfill did not expect still ends as an error ec explains (what
    stopped, the state, what to run next), which `--on-failure rollback` acts on."""
    try:
        yield
    except psycopg.Error as exc:
        raise ECError(
            f"the backfill of {job.schema}.{job.table} failed: {_first_line(exc)}",
            "its committed batches are kept",
        ) from exc


@contextlib.contextmanager
def _keeping(run: ExclusiveRun | None) -> Iterator[None]:
    """While the backfill runs, the engine's thread is busy in it: a keeper thread checks the
    run lock every second and takes it again after a lost session (a server restart) if no
    other run held it meanwhile. If it cannot, the workers see it and stop."""
    if run is None:
        yield
        return
    stop = threading.Event()

    def keep() -> None:
        while not stop.wait(1.0):
            try:
                run.check(before="the next batch")
            except RunLockLost:
                return  # another run took over: the workers see it and stop
            except Exception:  # the server is still away: try again
                continue

    keeper = threading.Thread(target=keep, name="ec-run-lock-keeper", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join()


def settle_pending(runner: SafeRunner, job: BackfillJob) -> None:
    """Index the rows still pending, convert those `up` can convert now, and refuse to finish
    while any is left, naming them (key and error). Nothing to do once contract swapped the
    table's columns (the marker is gone)."""
    marker = runner.conn.execute(
        "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s"
        " AND NOT attisdropped",
        (sql.Identifier(job.schema, job.table).as_string(runner.conn), PENDING),
    ).fetchone()
    if marker is None:
        return
    index = pending_index_step(job.schema, job.table)
    runner.run(to_step(index))
    runner.run(
        Step(f"convert rows still pending on {job.table}", convert_pending(job.schema, job.table))
    )
    count, rows = pending_rows(runner.conn, job.schema, job.table, job.key)
    if not count:
        return
    listed = "; ".join(f"{r['key']}: {r['error']}" for r in rows)
    more = f" (and {count - len(rows)} more)" if count > len(rows) else ""
    raise PendingRows(
        f"{count} row(s) of {job.schema}.{job.table} cannot be converted by `up`: {listed}{more}",
        "these rows stay pending and the old version's writes go through; fix them as the old "
        "version (an UPDATE of the columns `up` reads converts a row at once) or change `up` "
        "(after `ec rollback`); `ec status` shows how many are left",
        rows,
        count,
    )


def pending_count(conn: psycopg.Connection[Any], schema: str, table: str) -> int | None:
    """Rows still pending, read through the pending index only (None before it exists:
    counting without it would scan the table)."""
    index = sql.Identifier(schema, pending_index_name(table)).as_string(conn)
    row = conn.execute(
        "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass(%s)", (index,)
    ).fetchone()
    if not row or not row[0]:  # missing, or still being built: counting would scan the table
        return None
    try:
        with conn.transaction():
            conn.execute("SELECT set_config('enable_seqscan', 'off', true)")
            counted = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {}").format(
                    sql.Identifier(schema, table), sql.Identifier(PENDING)
                )
            ).fetchone()
    except (psycopg.errors.UndefinedColumn, psycopg.errors.UndefinedTable):
        return None  # contract dropped the marker (or the table) since the index was read
    return int(counted[0]) if counted else 0


def pending_rows(
    conn: psycopg.Connection[Any], schema: str, table: str, key: tuple[str, ...]
) -> tuple[int, list[dict[str, str]]]:
    """How many rows are still pending (through the pending index) and, for the first few by
    key, the key and the error `up` raises for them (found in a rolled-back transaction)."""
    ref = sql.Identifier(schema, table)
    names: list[sql.Composable] = [sql.Identifier(c) for c in key] or [sql.SQL("ctid")]
    label = "(" + ", ".join(key or ("ctid",)) + ")"
    rows: list[dict[str, str]] = []
    with conn.transaction(force_rollback=True):
        conn.execute("SELECT set_config('enable_seqscan', 'off', true)")
        count_row = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE {}").format(ref, sql.Identifier(PENDING))
        ).fetchone()
        count = int(count_row[0]) if count_row else 0
        if not count:
            return 0, []
        # The lowest keys first: the same rows on every run, in an order people can follow.
        sample = conn.execute(
            sql.SQL("SELECT ctid, {names} FROM {} WHERE {} ORDER BY {names} LIMIT %s").format(
                ref, sql.Identifier(PENDING), names=sql.SQL(", ").join(names)
            ),
            (_LISTED,),
        ).fetchall()
        conn.execute("SELECT set_config(%s, 'on', true)", (STRICT_SETTING,))
        for ctid, *values in sample:
            error = "converts now"
            try:
                with conn.transaction():
                    conn.execute(
                        sql.SQL("UPDATE {} SET {} = false WHERE ctid = %s").format(
                            ref, sql.Identifier(PENDING)
                        ),
                        (ctid,),
                    )
            except psycopg.Error as exc:  # whatever `up` raises for this row
                if conn.broken:
                    raise
                error = _first_line(exc)
            rows.append({"key": f"{label}=({', '.join(str(v) for v in values)})", "error": error})
    return count, rows


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
