"""The library API: ``run_backfill`` (also resumes); status and control live in
``control.py``. The migration engine calls this for every copy."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from psycopg import sql

from expandcontract.backfill.control import (
    backfill_status,
    cancel_backfill,
    pause_backfill,
    resume_backfill,
)
from expandcontract.backfill.coordinator import Coordinator
from expandcontract.backfill.errors import BackfillCancelled, BackfillFailed
from expandcontract.backfill.keys import KeyInfo
from expandcontract.backfill.metrics import MetricsServer
from expandcontract.backfill.progress import Event, ProgressTracker
from expandcontract.backfill.ranges import estimate_rows, plan_ranges
from expandcontract.backfill.settings import BackfillSettings
from expandcontract.backfill.spec import BackfillSpec
from expandcontract.backfill.store import (
    PHASE_BACKFILL,
    PHASE_VERIFY,
    Store,
)
from expandcontract.backfill.throttles.base import ProbeContext
from expandcontract.backfill.throttles.sessions import count_active
from expandcontract.backfill.validate import Target, resolve
from expandcontract.backfill.worker import application_name, worker_id
from expandcontract.dsn import to_psycopg
from expandcontract.ledger import Ledger
from expandcontract.ledger.lock import RunLockLost, SharedRun
from expandcontract.runner import SafeRunner
from expandcontract.runner.reconnect import Reconnecting
from expandcontract.runner.runner import Connection, connect

_POLL_S = 0.25
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class BackfillResult:
    name: str
    table: str
    status: str
    rows_updated: int
    rows_scanned: int
    batches: int
    stragglers: int
    duration_s: float
    throttled_s: float
    verified: bool  # true only when a verification sweep re-checked every row
    key_kind: str
    key: str
    workers: int
    mode: str = "converge"  # "converge" (verified by a sweep) or "once" (see modes.py)
    mode_reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _ensure_ledger(url: str, ledger_schema: str) -> None:
    with SafeRunner(url, sink=None) as runner:
        Ledger(runner, ledger_schema).ensure()


def run_backfill(
    url: str,
    *,
    table: str,
    assignments: Mapping[str, str],
    where: str | None = None,
    keys: Sequence[str] | None = None,
    name: str | None = None,
    schema: str = "public",
    settings: BackfillSettings | None = None,
    migration_id: int | None = None,
    on_progress: Callable[[Event], None] | None = None,
    ledger_schema: str = "expandcontract",
    metrics_port: int | None = None,
    tracker: ProgressTracker | None = None,
) -> BackfillResult:
    """Backfill ``table`` in batches; re-running with the same name resumes exactly.

    Raises BackfillInputError (nothing updated) for bad input, BackfillRowError naming the
    key of a row the expression fails on, BackfillFailed / BackfillCancelled otherwise;
    in every case the committed batches stay committed and a re-run continues after them.
    """
    settings = settings or BackfillSettings()
    # Bad input is refused before anything connects (the run lock included).
    BackfillSpec.build(table=table, assignments=assignments, schema=schema, where=where, keys=keys)
    if settings.run_lock is None:
        # A standalone backfill: no migration command may run meanwhile (and it waits for none).
        with SharedRun(to_psycopg(url), ledger_schema, "ec backfill run"):
            return _run(
                url, table=table, assignments=assignments, where=where, keys=keys, name=name,
                schema=schema, settings=settings, migration_id=migration_id,
                on_progress=on_progress, ledger_schema=ledger_schema,
                metrics_port=metrics_port, tracker=tracker,
            )  # fmt: skip
    return _run(
        url, table=table, assignments=assignments, where=where, keys=keys, name=name,
        schema=schema, settings=settings, migration_id=migration_id, on_progress=on_progress,
        ledger_schema=ledger_schema, metrics_port=metrics_port, tracker=tracker,
    )  # fmt: skip


def _run(
    url: str,
    *,
    table: str,
    assignments: Mapping[str, str],
    where: str | None,
    keys: Sequence[str] | None,
    name: str | None,
    schema: str,
    settings: BackfillSettings,
    migration_id: int | None,
    on_progress: Callable[[Event], None] | None,
    ledger_schema: str,
    metrics_port: int | None,
    tracker: ProgressTracker | None,
) -> BackfillResult:
    spec = BackfillSpec.build(
        table=table, assignments=assignments, schema=schema, where=where, keys=keys
    )
    name = name or spec.default_name()
    url = to_psycopg(url)
    store = Store(ledger_schema, name, worker_id())
    started = time.monotonic()
    # Every step of the setup is repeatable: a session lost on the way is replaced and the
    # step run again (for up to reconnect_max_s).
    session = Reconnecting(
        url, application_name=application_name(name), budget_s=settings.reconnect_max_s
    )
    try:
        target = session.run(
            lambda conn: resolve(conn, spec, lock_timeout_ms=max(2000, settings.lock_timeout_ms))
        )
        _ensure_ledger(url, ledger_schema)
        total, new, row, baseline = session.run(
            lambda conn: _register(conn, store, spec, target, settings, migration_id)
        )
    finally:
        session.close()
    if row["status"] == "done" and (row["verified"] or target.mode.once):
        # Finished: nothing is run again (a once backfill must never apply twice).
        done = _result(row, target, started, 0.0, settings.workers)
        if on_progress is not None:
            on_progress({"event": "done", "name": name, **done.as_dict()})
        return done
    tracker = tracker or ProgressTracker(name, target.qualified, target.key.kind, total)
    if target.key.kind == "integer" and settings.workers == 1 and new:
        tracker.key_span = _key_span(url, target)
    tracker.seed(int(row["rows_scanned"]), int(row["rows_done"]), int(row["batches"]))

    def emit(event: str, data: dict[str, Any]) -> None:
        record: Event = {"event": event, "name": name, **data}
        tracker.observe(record)
        if on_progress is not None:
            on_progress(record)

    emit("start", {"table": target.qualified, "key": target.key.describe(),
                   "key_kind": target.key.kind, "resumed": not new, "workers": settings.workers,
                   "rows_estimate": total, "mode": target.mode.name,
                   "mode_reason": target.mode.reason,
                   # What earlier runs committed: a resumed run's progress counts from there.
                   "done_before": {"rows_scanned": int(row["rows_scanned"]),
                                   "rows_updated": int(row["rows_done"]),
                                   "batches": int(row["batches"])}})  # fmt: skip
    metrics = MetricsServer(tracker, metrics_port) if metrics_port is not None else None
    if metrics is not None:
        metrics.__enter__()
        emit("metrics", {"port": metrics.port})
    coordinator = Coordinator(url, ledger_schema, name, target, settings, emit, baseline)
    try:
        throttled = coordinator.run_phase(PHASE_BACKFILL)
        verified = False
        # A once backfill has no sweep: re-evaluating its expressions would apply them again.
        if settings.verify and not target.mode.once:
            sweep = _once_connected(
                url, name, settings, lambda conn: _add_sweep(conn, store, target, settings)
            )
            emit("phase", {"phase": PHASE_VERIFY, "by": sweep.key.kind})
            throttled += coordinator.run_phase(PHASE_VERIFY, workers=1, target=sweep)
            verified = True
        final = _once_connected(
            url, name, settings, lambda conn: _mark_done(conn, store, verified=verified)
        )
        result = _result(final, target, started, throttled, settings.workers)
        emit("done", result.as_dict())
        return result
    except BackfillCancelled as exc:
        _finish(url, store, "cancelled", exc.message, clear_request=True)
        emit("error", {"status": "cancelled", "error": exc.message})
        raise
    except RunLockLost as exc:
        # Another ec run may own the database now: write nothing more.
        emit("error", {"status": "interrupted", "error": exc.message})
        raise
    except BackfillFailed as exc:
        status = getattr(exc, "status", "failed")
        _finish(url, store, status, exc.message)
        emit("error", {"status": status, "error": exc.message})
        raise
    except KeyboardInterrupt:
        _finish(url, store, "interrupted", "interrupted")
        raise
    finally:
        if metrics is not None:
            metrics.__exit__(None, None, None)


def _register(
    conn: Connection,
    store: Store,
    spec: BackfillSpec,
    target: Target,
    settings: BackfillSettings,
    migration_id: int | None,
) -> tuple[int, bool, dict[str, Any], int]:
    """Create (or find) the backfill and its ranges, mark it running unless it is finished:
    (rows estimate, new, its row, active sessions baseline). One transaction, repeatable."""
    total = estimate_rows(conn, target.table, target.oid)
    with conn.transaction():
        new = store.create_or_check(
            conn, spec=spec.as_dict(), checksum=spec.checksum, table_schema=spec.schema,
            table_name=spec.table, key=target.key.as_dict(), key_kind=target.key.kind,
            migration_id=migration_id, total_estimate=total,
        )  # fmt: skip
        if new:
            count = settings.workers * settings.ranges_per_worker if settings.workers > 1 else 1
            store.add_ranges(
                conn, PHASE_BACKFILL, plan_ranges(conn, target.table, target.oid, target.key, count)
            )
        row = store.row(conn)
        assert row is not None
        if not (row["status"] == "done" and (row["verified"] or target.mode.once)):
            keep = "pause" if row["requested"] == "pause" else None
            store.set_status(conn, "running", requested=keep, error=None)
            conn.execute(
                sql.SQL(
                    "UPDATE {} SET started_at = COALESCE(started_at, now()) WHERE name = %s"
                ).format(store.t("backfills")),
                (store.name,),
            )
    baseline = count_active(ProbeContext(conn, target.oid, application_name(store.name)))
    return total, new, row, baseline


def _key_span(url: str, target: Target) -> tuple[int, int] | None:
    """min/max of a single integer key (two index probes), to refine the progress total."""
    column = sql.Identifier(target.key.columns[0])
    with connect(url, application_name="ec-backfill-progress") as conn:
        row = conn.execute(
            sql.SQL("SELECT min({c}), max({c}) FROM {t}").format(c=column, t=target.table)
        ).fetchone()
    if row is None or row[0] is None:
        return None
    return int(row[0]), int(row[1])


def _sweep_target(conn: Connection, target: Target, verify_by: str) -> Target:
    """The verification sweep pages by ctid when the server has TID Range Scans (PG 14+)."""
    by_ctid = verify_by == "ctid" or (verify_by == "auto" and conn.info.server_version >= 140000)
    if not by_ctid or target.key.is_ctid:
        return target
    ctid = KeyInfo((), (), "ctid")
    return dataclasses.replace(target, key=ctid, batch=dataclasses.replace(target.batch, key=ctid))


def _once_connected(
    url: str, name: str, settings: BackfillSettings, fn: Callable[[Connection], T]
) -> T:
    session = Reconnecting(
        url, application_name=application_name(name), budget_s=settings.reconnect_max_s
    )
    try:
        return session.run(fn)
    finally:
        session.close()


def _add_sweep(
    conn: Connection, store: Store, target: Target, settings: BackfillSettings
) -> Target:
    sweep = _sweep_target(conn, target, settings.verify_by)
    store.add_ranges(conn, PHASE_VERIFY, [(0, None) if sweep.key.is_ctid else (None, None)])
    return sweep


def _mark_done(conn: Connection, store: Store, *, verified: bool) -> dict[str, Any]:
    store.set_status(conn, "done", verified=verified, throttle_reason=None)
    final = store.row(conn)
    assert final is not None
    return final


def _finish(
    url: str, store: Store, status: str, error: str, *, clear_request: bool = False
) -> None:
    try:
        # Short: reporting the original failure matters more than waiting for the server.
        with connect(url, application_name=application_name(store.name), retry_s=5) as conn:
            extra: dict[str, Any] = {"error": error, "throttle_reason": None}
            if clear_request:
                extra["requested"] = None
            store.set_status(conn, status, **extra)
    except Exception:  # reporting the original failure matters more than recording it
        return


def _result(
    row: Mapping[str, Any], target: Target, started: float, throttled: float, workers: int
) -> BackfillResult:
    return BackfillResult(
        name=str(row["name"]),
        table=target.qualified,
        status=str(row["status"]),
        rows_updated=int(row["rows_done"]),
        rows_scanned=int(row["rows_scanned"]),
        batches=int(row["batches"]),
        stragglers=int(row["stragglers"]),
        duration_s=round(time.monotonic() - started, 3),
        throttled_s=round(
            max(throttled, int(row["throttle_ms"]) / 1000 if workers > 1 else throttled), 3
        ),
        verified=bool(row["verified"]),
        key_kind=target.key.kind,
        key=target.key.describe(),
        workers=workers,
        mode=target.mode.name,
        mode_reason=target.mode.reason,
    )


__all__ = [
    "BackfillResult",
    "backfill_status",
    "cancel_backfill",
    "pause_backfill",
    "resume_backfill",
    "run_backfill",
]
