"""``Ledger.status()``: versions, migrations with their phases (and, for the active one, how
many of each phase's steps are done), backfills with their progress, and the sessions blocking
ec right now; a phase or backfill recorded ``running`` whose run is gone is shown as
``interrupted`` (see liveness.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psycopg import sql

from expandcontract.ledger.liveness import (
    INTERRUPTED,
    backfill_liveness,
    backfill_resume_hint,
    phase_resume_hint,
)
from expandcontract.ledger.lock import run_lock_holder
from expandcontract.ledger.schema import LATEST, read_version

if TYPE_CHECKING:
    from expandcontract.ledger.ledger import Ledger
    from expandcontract.runner.runner import Connection


def ledger_status(ledger: Ledger, conn: Connection) -> dict[str, Any]:
    """Everything ``ec status`` shows, read on ``conn``."""
    version = read_version(conn, ledger.schema)
    server = conn.execute("SELECT current_setting('server_version'), current_database()")
    server_version, database = server.fetchone() or ("?", "?")
    out: dict[str, Any] = {
        "ledger_schema": ledger.schema,
        "ledger_version": version,
        "ledger_latest": LATEST,
        "initialized": version is not None,
        "database": database,
        "server_version": server_version,
        "migrations": [],
        "backfills": [],
        "blockers": blockers(conn),
    }
    if version is None:
        return out
    alive = run_lock_holder(conn, ledger.schema) is not None
    out["migrations"] = []
    for m in ledger.migrations_on(conn, sql.SQL(""), ()):
        phases = ledger.phases_on(conn, m.id)
        for phase, state in phases.items():
            if state["status"] == "running" and not alive:
                state.update(status=INTERRUPTED, hint=phase_resume_hint(phase))
        item = {**m.as_dict(), "phases": phases}
        if m.active:
            item["steps"] = step_progress(ledger, conn, m.id)
        out["migrations"].append(item)
    if version >= 2:
        out["backfills"] = _backfills(ledger, conn, version)
    return out


def _backfills(ledger: Ledger, conn: Connection, version: int) -> list[dict[str, Any]]:
    liveness = (
        backfill_liveness(ledger.schema, heartbeats=version >= 4)
        if version >= 3
        else sql.SQL("b.status, b.updated_at")
    )
    rows = conn.execute(
        sql.SQL(
            "SELECT b.name, b.table_schema, b.table_name, {}, b.rows_done, b.batches,"
            " b.verified, b.updated_at, b.spec, b.migration_id, {} FROM {} b"
            " ORDER BY b.created_at"
        ).format(
            liveness,
            _PROGRESS if version >= 3 else _NO_PROGRESS,
            sql.Identifier(ledger.schema, "backfills"),
        )
    ).fetchall()
    out = []
    for row in rows:
        name, schema, table, status, seen, done, batches, verified, updated, spec, mid = row[:11]
        scanned, estimate, reason, throttle_ms, requested = row[11:]
        if status == "running" and requested == "pause":
            status = "paused"
        item: dict[str, Any] = {
            "name": name,
            "table": f"{schema}.{table}",
            "status": status,
            "rows_done": done,
            "batches": batches,
            "verified": verified,
            "updated_at": updated.isoformat(),
            "rows_scanned": scanned,
            "rows_estimate": estimate,
            "throttle_reason": reason,
            "throttle_s": None if throttle_ms is None else throttle_ms / 1000,
        }
        if status == INTERRUPTED:
            item["last_seen"] = seen.isoformat()
            item["hint"] = backfill_resume_hint(name, spec, mid, seen.isoformat())
        out.append(item)
    return out


_PROGRESS = sql.SQL(
    "b.rows_scanned, b.total_estimate, b.throttle_reason, b.throttle_ms, b.requested"
)
_NO_PROGRESS = sql.SQL("b.rows_done, NULL::bigint, NULL::text, NULL::bigint, NULL::text")


def step_progress(ledger: Ledger, conn: Connection, migration_id: int) -> dict[str, Any]:
    """Per phase of the stored plan: steps done, steps planned, the next step's description."""
    row = conn.execute(
        sql.SQL("SELECT spec -> 'plan' -> 'phases' FROM {} WHERE id = %s").format(
            sql.Identifier(ledger.schema, "migrations")
        ),
        (migration_id,),
    ).fetchone()
    planned: dict[str, list[dict[str, Any]]] = (row[0] if row else None) or {}
    done = {
        (str(phase), str(key))
        for phase, key in conn.execute(
            sql.SQL("SELECT phase, key FROM {} WHERE migration_id = %s").format(
                sql.Identifier(ledger.schema, "steps")
            ),
            (migration_id,),
        ).fetchall()
    }
    out: dict[str, Any] = {}
    for phase, steps in planned.items():
        left = [s for s in steps if (phase, s.get("key")) not in done]
        out[phase] = {
            "done": len(steps) - len(left),
            "of": len(steps),
            "next": left[0].get("description") if left else None,
        }
    return out


# Sessions of ec: the engine's runner and run lock ("expandcontract..."), the backfill's
# workers, monitors and coordinator ("ec-backfill...").
_BLOCKERS = """
SELECT DISTINCT ON (b.pid, w.pid) b.pid, b.usename, b.application_name, b.state,
       extract(epoch FROM clock_timestamp() - b.xact_start)::float8, left(b.query, 200),
       w.pid, w.application_name
FROM pg_stat_activity w
CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS blocking(pid)
JOIN pg_stat_activity b ON b.pid = blocking.pid
WHERE (w.application_name LIKE 'expandcontract%%' OR w.application_name LIKE 'ec-backfill%%')
  AND w.pid <> pg_backend_pid()
ORDER BY b.pid, w.pid
"""


def blockers(conn: Connection) -> list[dict[str, Any]]:
    """The sessions holding a lock one of ec's sessions waits for, now."""
    return [
        {
            "pid": pid,
            "user": user,
            "application": app or None,
            "state": state,
            "xact_age_s": None if age is None else round(float(age), 1),
            "query": query,
            "waiting_pid": waiting_pid,
            "waiting": waiting,
        }
        for pid, user, app, state, age, query, waiting_pid, waiting in conn.execute(
            _BLOCKERS
        ).fetchall()
    ]
