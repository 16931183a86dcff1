"""The backfill phase of a migration, run by the backfill engine.

Each table with pending rows is backfilled by touching the rows still marked ``_ec_pending``:
the dual-write trigger computes every new-version column from ``up`` as the row is touched,
in the engine's batched, throttled, resumable UPDATEs. The engine's final sweep proves no row
is left pending before the phase may be marked done.
"""

from __future__ import annotations

from psycopg import sql

from expandcontract.backfill import BackfillSettings, run_backfill
from expandcontract.config import Settings
from expandcontract.engine.phases import BackfillFn
from expandcontract.engine.plan import BackfillJob
from expandcontract.engine.selector import as_version
from expandcontract.errors import ECError
from expandcontract.ledger import MigrationRecord
from expandcontract.operations.state import PENDING


def backfill_name(job: BackfillJob, record: MigrationRecord) -> str:
    # The migration id keeps a re-applied (after rollback) migration from reusing old progress.
    return f"migration-{record.id}:{job.schema}.{job.table}"


def table_backfill(
    url: str, settings: Settings, *, tuning: BackfillSettings | None = None
) -> BackfillFn:
    def run(job: BackfillJob, record: MigrationRecord) -> None:
        # The backfill touches rows as the OLD version: the trigger then computes the new
        # columns from up. Declared explicitly, whatever the database's default search_path.
        result = run_backfill(
            as_version(url, record.old_schema or job.schema),
            table=job.table,
            schema=job.schema,
            assignments={PENDING: "false"},
            where=sql.Identifier(PENDING).as_string(None),
            name=backfill_name(job, record),
            settings=tuning or BackfillSettings(),
            migration_id=record.id,
            ledger_schema=settings.ledger_schema,
        )
        if not result.verified:
            raise ECError(
                f"the backfill of {job.schema}.{job.table} finished without being verified",
                "re-run `ec apply` to resume it",
            )

    return run
