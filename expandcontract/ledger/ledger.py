"""Ledger API: install/upgrade the ledger schema, record migrations, phases and steps."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import getpass
import socket
import zlib
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from expandcontract import __version__
from expandcontract.errors import LedgerError
from expandcontract.ledger.report import ledger_status
from expandcontract.ledger.schema import LATEST, VERSIONS, read_version
from expandcontract.runner import SafeRunner, Step
from expandcontract.runner.runner import Connection, StepResult

PHASES = ("expand", "backfill", "switch", "contract")


@dataclasses.dataclass(frozen=True)
class MigrationRecord:
    id: int
    name: str
    base_schema: str
    checksum: str
    version_schema: str | None
    old_schema: str | None
    phase: str
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["updated_at"] = self.updated_at.isoformat()
        return data


class Ledger:
    """The ledger of one database, living in its own schema (default ``expandcontract``).

    Every read and write survives a lost session (the runner reconnects within its retry
    budget): reads and idempotent writes are simply repeated; a new migration's INSERT is
    not repeated if its lost COMMIT did happen.
    """

    def __init__(self, runner: SafeRunner, schema: str = "expandcontract") -> None:
        self.runner = runner
        self.schema = schema
        self._s = sql.Identifier(schema)

    def _t(self, table: str) -> sql.Identifier:
        return sql.Identifier(self.schema, table)

    # -- install / upgrade -----------------------------------------------------------------
    def version(self) -> int | None:
        """The installed ledger version, or None when there is no ledger yet."""
        return self.runner.retrying(lambda conn: read_version(conn, self.schema))

    def ensure(self, target: int = LATEST) -> list[int]:
        """Install or upgrade the ledger to ``target``; idempotent and safe to race.

        Each version is one transaction: its DDL and the version bump commit together,
        under a transaction-level advisory lock so concurrent ``ec init`` runs queue up.
        """
        installed = self.version()
        if installed is not None and installed > LATEST:
            raise LedgerError(
                f"the ledger in schema {self.schema!r} is version {installed}, newer than this ec "
                f"({__version__}) understands (up to {LATEST})",
                "upgrade expandcontract on this machine before running it against this database",
            )
        applied: list[int] = []
        for version, what, build in VERSIONS:
            if version > target or (installed is not None and version <= installed):
                continue
            statements = [*build(self._s), self._set_version_sql(version)]
            result = self.runner.run(
                Step(f"ledger v{version}: {what}", tuple(statements), transactional=True),
                skip_if=functools.partial(self._has_version, version),
            )
            if not result.skipped:
                applied.append(version)
        return applied

    def _has_version(self, version: int, conn: Connection) -> bool:
        """Asked inside the upgrade transaction, after queueing behind any concurrent install."""
        key = zlib.crc32(f"ledger-install:{self.schema}".encode()) & 0x7FFFFFFF
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (0x6563, key))
        return (read_version(conn, self.schema) or 0) >= version

    def _set_version_sql(self, version: int) -> sql.Composed:
        return sql.SQL(
            "INSERT INTO {} (key, value) VALUES ('ledger_version', {}) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        ).format(self._t("meta"), sql.Literal(str(version)))

    def require(self) -> int:
        """Upgrade if needed and return the version; for commands that write to the ledger."""
        self.ensure()
        version = self.version()
        assert version is not None
        return version

    # -- migrations ------------------------------------------------------------------------
    def start_migration(
        self,
        name: str,
        *,
        base_schema: str,
        checksum: str,
        spec: Any = None,
        version_schema: str | None = None,
        old_schema: str | None = None,
    ) -> MigrationRecord:
        def insert(conn: Connection) -> int:
            row = conn.execute(
                sql.SQL(
                    "INSERT INTO {} (name, base_schema, checksum, spec, version_schema, old_schema,"
                    " host, os_user, ec_version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    " RETURNING id"
                ).format(self._t("migrations")),
                (
                    name,
                    base_schema,
                    checksum,
                    Jsonb(spec),
                    version_schema,
                    old_schema,
                    socket.gethostname(),
                    _os_user(),
                    __version__,
                ),
            ).fetchone()
            assert row is not None
            return int(row[0])

        def inserted(conn: Connection) -> int:
            found = self.migrations_on(
                conn, sql.SQL("WHERE base_schema = %s AND name = %s"), (base_schema, name)
            )
            return found[0].id

        record = self.migration(self.runner.in_transaction(insert, recover=inserted))
        assert record is not None
        return record

    def migration_by_name(self, base_schema: str, name: str) -> MigrationRecord | None:
        rows = self._migrations(
            sql.SQL("WHERE base_schema = %s AND name = %s"), (base_schema, name)
        )
        return rows[0] if rows else None

    def restart_migration(
        self,
        migration_id: int,
        *,
        checksum: str,
        spec: Any,
        version_schema: str | None,
        old_schema: str | None,
    ) -> MigrationRecord:
        """Re-activate a rolled-back migration for a fresh start: its steps, phases and
        backfill progress are cleared so nothing from the earlier attempt is skipped."""

        def restart(conn: Connection) -> None:  # repeatable: the same end state every time
            for table in ("steps", "phases"):
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE migration_id = %s").format(self._t(table)),
                    (migration_id,),
                )
            if (read_version(conn, self.schema) or 0) >= 2:
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE migration_id = %s").format(self._t("backfills")),
                    (migration_id,),
                )
            conn.execute(
                sql.SQL(
                    "UPDATE {} SET active = true, checksum = %s, spec = %s, version_schema = %s,"
                    " old_schema = %s, phase = 'planned', updated_at = now(), host = %s,"
                    " os_user = %s, ec_version = %s WHERE id = %s"
                ).format(self._t("migrations")),
                (
                    checksum,
                    Jsonb(spec),
                    version_schema,
                    old_schema,
                    socket.gethostname(),
                    _os_user(),
                    __version__,
                    migration_id,
                ),
            )

        self.runner.in_transaction(restart)
        record = self.migration(migration_id)
        assert record is not None
        return record

    def migration(self, migration_id: int) -> MigrationRecord | None:
        rows = self._migrations(sql.SQL("WHERE id = %s"), (migration_id,))
        return rows[0] if rows else None

    def active_migration(self, base_schema: str) -> MigrationRecord | None:
        rows = self._migrations(sql.SQL("WHERE active AND base_schema = %s"), (base_schema,))
        return rows[0] if rows else None

    def migrations(self) -> list[MigrationRecord]:
        return self._migrations(sql.SQL(""), ())

    def _migrations(self, where: sql.Composable, params: tuple[Any, ...]) -> list[MigrationRecord]:
        return self.runner.retrying(lambda conn: self.migrations_on(conn, where, params))

    def migrations_on(
        self, conn: Connection, where: sql.Composable, params: tuple[Any, ...]
    ) -> list[MigrationRecord]:
        rows = conn.execute(
            sql.SQL(
                "SELECT id, name, base_schema, checksum, version_schema, old_schema, phase, active,"
                " created_at, updated_at FROM {} {} ORDER BY id"
            ).format(self._t("migrations"), where),
            params,
        ).fetchall()
        return [MigrationRecord(*r) for r in rows]

    def set_phase(
        self, migration_id: int, phase: str, status: str, *, error: str | None = None
    ) -> None:
        """Record that ``phase`` is ``running``, ``done`` or ``failed`` (with timestamps)."""
        if phase not in (*PHASES, "rollback"):
            raise LedgerError(f"unknown phase {phase!r}")
        finished = status in ("done", "failed")

        def record(conn: Connection) -> None:  # an upsert and an update: repeatable
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (migration_id, phase, status, error, host, os_user,"
                    " finished_at) VALUES (%s, %s, %s, %s, %s, %s, CASE WHEN %s THEN now() END)"
                    " ON CONFLICT (migration_id, phase) DO UPDATE SET status = excluded.status,"
                    " error = excluded.error, finished_at = excluded.finished_at,"
                    " host = excluded.host, os_user = excluded.os_user"
                ).format(self._t("phases")),
                (migration_id, phase, status, error, socket.gethostname(), _os_user(), finished),
            )
            conn.execute(
                sql.SQL("UPDATE {} SET phase = %s, updated_at = now() WHERE id = %s").format(
                    self._t("migrations")
                ),
                (phase, migration_id),
            )

        self.runner.in_transaction(record)

    def phases(self, migration_id: int) -> dict[str, dict[str, Any]]:
        return self.runner.retrying(lambda conn: self.phases_on(conn, migration_id))

    def phases_on(self, conn: Connection, migration_id: int) -> dict[str, dict[str, Any]]:
        rows = conn.execute(
            sql.SQL(
                "SELECT phase, status, started_at, finished_at, error FROM {}"
                " WHERE migration_id = %s ORDER BY started_at"
            ).format(self._t("phases")),
            (migration_id,),
        ).fetchall()
        return {
            r[0]: {
                "status": r[1],
                "started_at": r[2].isoformat(),
                "finished_at": r[3].isoformat() if r[3] else None,
                "error": r[4],
            }
            for r in rows
        }

    def finish_migration(self, migration_id: int) -> None:
        """Mark a migration inactive (completed or rolled back): the base schema is free again."""
        self.runner.execute(
            sql.SQL("UPDATE {} SET active = false, updated_at = now() WHERE id = %s").format(
                self._t("migrations")
            ),
            (migration_id,),
        )

    # -- idempotent steps -----------------------------------------------------------------
    def step_done(self, conn: Connection, migration_id: int, phase: str, key: str) -> bool:
        """Asked first in every attempt of a step, inside its transaction. The transaction lock
        per step makes a retry wait for an earlier attempt whose COMMIT was still in flight
        when its connection was lost, so it sees that attempt's ledger row, not a stale "no"."""
        step_lock = zlib.crc32(f"{self.schema}\0{migration_id}\0{phase}\0{key}".encode())
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (0x6573, step_lock & 0x7FFFFFFF))
        row = conn.execute(
            sql.SQL("SELECT 1 FROM {} WHERE migration_id = %s AND phase = %s AND key = %s").format(
                self._t("steps")
            ),
            (migration_id, phase, key),
        ).fetchone()
        return row is not None

    def done_steps(self, migration_id: int) -> set[tuple[str, str]]:
        """(phase, key) of every step recorded for a migration."""
        rows = self.runner.execute(
            sql.SQL("SELECT phase, key FROM {} WHERE migration_id = %s").format(self._t("steps")),
            (migration_id,),
        )
        return {(str(r[0]), str(r[1])) for r in rows}

    def run_step(self, migration_id: int, phase: str, key: str, step: Step) -> StepResult:
        """Run ``step`` once per (migration, phase, key): a resumed phase skips what is done.

        For transactional steps the ledger row commits with the step itself. An autocommit
        step (CONCURRENTLY) is recorded right after it; if ec dies in between, the step runs
        again on resume, so such steps must be written to be re-runnable (IF NOT EXISTS).
        """
        conn = self.runner.conn
        statement = "; ".join(s.as_string(conn) for s in step.statements)

        def record(c: Connection) -> None:
            c.execute(
                sql.SQL(
                    "INSERT INTO {} (migration_id, phase, key, description, statement)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
                ).format(self._t("steps")),
                (migration_id, phase, key, step.description, statement),
            )

        result = self.runner.run(
            step,
            skip_if=lambda c: self.step_done(c, migration_id, phase, key),
            record=record,
        )
        if not result.skipped:
            self.runner.execute(
                sql.SQL(
                    "UPDATE {} SET attempts = %s, duration_ms = %s"
                    " WHERE migration_id = %s AND phase = %s AND key = %s"
                ).format(self._t("steps")),
                (result.attempts, result.duration_ms, migration_id, phase, key),
            )
        return result

    # -- small facts kept with the ledger (a switch's search_path, a health verdict) -------
    def remember(self, key: str, value: str) -> None:
        with self.runner.transaction() as conn:
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (key, value) VALUES (%s, %s)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                ).format(self._t("meta")),
                (key, value),
            )

    def recall(self, key: str) -> str | None:
        query = sql.SQL("SELECT value FROM {} WHERE key = %s").format(self._t("meta"))
        row = self.runner.retrying(lambda conn: conn.execute(query, (key,)).fetchone())
        return str(row[0]) if row else None

    # -- reporting ------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Versions, migrations with their phases, backfills. A phase or backfill recorded
        ``running`` whose run is gone (no run lock held / no lease or heartbeat) is shown as
        ``interrupted``, with a hint naming the command that resumes it."""
        return self.runner.retrying(functools.partial(ledger_status, self))


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
