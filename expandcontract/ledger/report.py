"""``Ledger.status()``: versions, migrations with their phases, backfills; a phase or backfill
recorded ``running`` whose run is gone is shown as ``interrupted`` (see liveness.py)."""

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
        out["migrations"].append({**m.as_dict(), "phases": phases})
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
            " b.verified, b.updated_at, b.spec, b.migration_id FROM {} b ORDER BY b.created_at"
        ).format(liveness, sql.Identifier(ledger.schema, "backfills"))
    ).fetchall()
    out = []
    for name, schema, table, status, seen, done, batches, verified, updated, spec, mid in rows:
        item: dict[str, Any] = {
            "name": name,
            "table": f"{schema}.{table}",
            "status": status,
            "rows_done": done,
            "batches": batches,
            "verified": verified,
            "updated_at": updated.isoformat(),
        }
        if status == INTERRUPTED:
            item["last_seen"] = seen.isoformat()
            item["hint"] = backfill_resume_hint(name, spec, mid, seen.isoformat())
        out.append(item)
    return out
