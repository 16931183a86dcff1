"""What the engine reports: the stored plan of a migration, `ec status`, a command's summary.
Reads only; each one is repeated on a new session if the connection is lost."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from expandcontract.engine import versions
from expandcontract.engine.backfill import pending_count
from expandcontract.engine.plan import Plan
from expandcontract.errors import LedgerError
from expandcontract.ledger import Ledger, MigrationRecord
from expandcontract.runner import SafeRunner


def stored_plan(runner: SafeRunner, ledger: Ledger, record: MigrationRecord) -> Plan:
    """The plan stored when the migration started: what every later phase runs."""
    query = sql.SQL("SELECT spec FROM {} WHERE id = %s").format(
        sql.Identifier(ledger.schema, "migrations")
    )
    row = runner.retrying(lambda conn: conn.execute(query, (record.id,)).fetchone())
    if not row or not row[0] or "plan" not in row[0]:
        raise LedgerError(f"the ledger has no stored plan for migration {record.name!r}")
    return Plan.from_json(row[0]["plan"])


def current_schema(runner: SafeRunner, ledger: Ledger, base_schema: str) -> str:
    return runner.retrying(lambda conn: versions.current(conn, ledger, base_schema))


def status(runner: SafeRunner, ledger: Ledger, base_schema: str) -> dict[str, Any]:
    data = ledger.status()
    record = ledger.active_migration(base_schema) if data["initialized"] else None
    data["migration"] = record.name if record else None
    data["phase"] = record.phase if record else None
    data["new_schema"] = record.version_schema if record else None
    data["old_schema"] = record.old_schema if record else None
    data["current_schema"] = (
        current_schema(runner, ledger, base_schema) if data["initialized"] else base_schema
    )
    # Rows `up` could not convert yet (None: not counted before the backfill built its index).
    data["pending_rows"] = {}
    if record is not None:
        for job in stored_plan(runner, ledger, record).backfills:
            count = runner.retrying(lambda conn: pending_count(conn, job.schema, job.table))  # noqa: B023
            data["pending_rows"][f"{job.schema}.{job.table}"] = count
    return data


def summary(ledger: Ledger, record: MigrationRecord, base_schema: str) -> dict[str, Any]:
    """A command's result: the migration as the ledger has it now."""
    fresh = ledger.migration(record.id) or record
    return {
        "migration": fresh.name,
        "phase": fresh.phase,
        "active": fresh.active,
        "new_schema": fresh.version_schema,
        "old_schema": fresh.old_schema,
        "phases": ledger.phases(fresh.id),
        "current_schema": current_schema(ledger.runner, ledger, base_schema),
    }
