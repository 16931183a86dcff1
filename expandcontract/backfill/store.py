"""Backfill state in the ledger: the backfill row, its key ranges (work queue with leases)
and one record per committed batch. The batch record and the range cursor are written by
``commit_batch`` inside the batch's own transaction: a crash loses nothing and redoes nothing.
A live run renews the backfill's heartbeat (claims, batches, throttle pauses, coordinator
polls), so status can tell a running run from a gone one (see ledger/liveness.py)."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from expandcontract.backfill.errors import BackfillInputError, LeaseLost
from expandcontract.backfill.statements import Cursor
from expandcontract.runner.runner import Connection

PHASE_BACKFILL = "backfill"
PHASE_VERIFY = "verify"


@dataclasses.dataclass(frozen=True)
class Claim:
    phase: str
    range_no: int
    lo: Cursor
    hi: Cursor
    cursor: Cursor
    token: str


@dataclasses.dataclass(frozen=True)
class BatchRecord:
    from_key: Cursor
    to_key: Cursor
    batch_size: int
    rows_scanned: int
    rows_updated: int
    duration_ms: float
    attempts: int
    throttle_ms: float


class Store:
    def __init__(self, ledger_schema: str, name: str, worker: str = "") -> None:
        self.schema = ledger_schema
        self.name = name
        self.worker = worker

    def t(self, table: str) -> sql.Identifier:
        return sql.Identifier(self.schema, table)

    # -- the backfill row ----------------------------------------------------------------
    def row(self, conn: Connection, *, lock: bool = False) -> dict[str, Any] | None:
        cur = conn.execute(
            sql.SQL("SELECT * FROM {} WHERE name = %s{}").format(
                self.t("backfills"), sql.SQL(" FOR UPDATE" if lock else "")
            ),
            (self.name,),
        )
        row = cur.fetchone()
        if row is None or cur.description is None:
            return None
        return dict(zip([d.name for d in cur.description], row, strict=True))

    def create_or_check(
        self,
        conn: Connection,
        *,
        spec: dict[str, Any],
        checksum: str,
        table_schema: str,
        table_name: str,
        key: dict[str, Any],
        key_kind: str,
        migration_id: int | None,
        total_estimate: int,
    ) -> bool:
        """Inside a transaction. True when the backfill is new; refuses a different spec."""
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (name, migration_id, table_schema, table_name, spec, checksum,"
                " key_kind, key_columns, total_estimate) VALUES (%s, %s, %s, %s, %s, %s, %s, %s,"
                " %s) ON CONFLICT (name) DO NOTHING"
            ).format(self.t("backfills")),
            (
                self.name,
                migration_id,
                table_schema,
                table_name,
                Jsonb(spec),
                checksum,
                key_kind,
                Jsonb(key),
                total_estimate,
            ),
        )
        existing = self.row(conn, lock=True)
        assert existing is not None
        if existing["checksum"] != checksum:
            raise BackfillInputError(
                f"a backfill named {self.name!r} already exists with a different spec "
                f"(table {existing['table_schema']}.{existing['table_name']}, "
                f"SET {existing['spec'].get('assignments')}, "
                f"WHERE {existing['spec'].get('where')})",
                "re-run it with exactly the same table, --set, --where and --key to resume it, "
                "or choose another --name",
            )
        has_ranges = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE backfill = %s AND phase = %s").format(
                self.t("backfill_ranges")
            ),
            (self.name, PHASE_BACKFILL),
        ).fetchone()
        return not (has_ranges and has_ranges[0])

    def add_ranges(self, conn: Connection, phase: str, bounds: list[tuple[Cursor, Cursor]]) -> None:
        for i, (lo, hi) in enumerate(bounds):
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (backfill, phase, range_no, lo, hi) VALUES (%s, %s, %s, %s, %s)"
                    " ON CONFLICT DO NOTHING"
                ).format(self.t("backfill_ranges")),
                (self.name, phase, i, _json(lo), _json(hi)),
            )

    def set_status(self, conn: Connection, status: str, **extra: Any) -> None:
        sets: list[sql.Composable] = [sql.SQL("status = %s"), sql.SQL("updated_at = now()")]
        params: list[Any] = [status]
        for column, value in extra.items():
            sets.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
        if status in ("done", "failed", "cancelled"):
            sets.append(sql.SQL("finished_at = now()"))
        if status == "running":  # a (re)started run is alive now, whatever an old one left
            sets.append(sql.SQL("heartbeat_at = now()"))
        conn.execute(
            sql.SQL("UPDATE {} SET {} WHERE name = %s").format(
                self.t("backfills"), sql.SQL(", ").join(sets)
            ),
            (*params, self.name),
        )

    def request(self, conn: Connection, flag: str | None) -> int:
        cur = conn.execute(
            sql.SQL("UPDATE {} SET requested = %s, updated_at = now() WHERE name = %s").format(
                self.t("backfills")
            ),
            (flag, self.name),
        )
        return cur.rowcount

    def requested(self, conn: Connection) -> str | None:
        row = conn.execute(
            sql.SQL("SELECT requested FROM {} WHERE name = %s").format(self.t("backfills")),
            (self.name,),
        ).fetchone()
        return None if row is None else row[0]

    # -- ranges: claim, checkpoint, finish -------------------------------------------------
    def claim(
        self, conn: Connection, phase: str, lease_s: float, *, token: str | None = None
    ) -> Claim | None:
        """Claim the next free range. Retrying with the same ``token`` after a lost reply
        returns the range that attempt claimed (not a second one)."""
        token = token or str(uuid.uuid4())
        row = conn.execute(
            sql.SQL(
                "UPDATE {r} SET status = 'running', owner = %s, lease_token = %s,"
                " lease_expires = now() + make_interval(secs => %s), claims = claims + 1,"
                " updated_at = now()"
                " WHERE (backfill, phase, range_no) = (SELECT backfill, phase, range_no FROM {r}"
                "  WHERE backfill = %s AND phase = %s AND (status = 'pending'"
                "   OR (status = 'running' AND lease_expires < now())"
                "   OR (status = 'running' AND lease_token = %s))"
                "  ORDER BY lease_token = %s DESC NULLS LAST, range_no LIMIT 1"
                "  FOR UPDATE SKIP LOCKED)"
                " RETURNING range_no, lo, hi, cursor"
            ).format(r=self.t("backfill_ranges")),
            (self.worker, token, lease_s, self.name, phase, token, token),
        ).fetchone()
        self.beat(conn, lease_s)
        if row is None:
            return None
        return Claim(phase, int(row[0]), row[1], row[2], row[3], token)

    def beat(self, conn: Connection, lease_s: float) -> None:
        """This run is alive and renews this at least every ``lease_s`` seconds."""
        conn.execute(
            sql.SQL("UPDATE {} SET heartbeat_at = now(), lease_s = %s WHERE name = %s").format(
                self.t("backfills")
            ),
            (lease_s, self.name),
        )

    def _range_where(self) -> sql.Composable:
        return sql.SQL("backfill = %s AND phase = %s AND range_no = %s AND lease_token = %s")

    def commit_batch(
        self,
        conn: Connection,
        claim: Claim,
        rec: BatchRecord,
        lease_s: float,
        *,
        generation: int | None = None,
    ) -> None:
        """Call inside the batch transaction; raises LeaseLost (rolling the batch back) if
        another worker has taken the range over, and, for a backfill of ec's run
        ``generation``, BackfillRunLockLost if another run has stamped the ledger since."""
        if generation is not None:
            fence_generation(conn, self.schema, generation)
        cur = conn.execute(
            sql.SQL(
                "UPDATE {} SET cursor = %s, rows_scanned = rows_scanned + %s,"
                " rows_updated = rows_updated + %s, batches = batches + 1,"
                " lease_expires = now() + make_interval(secs => %s), updated_at = now()"
                " WHERE {}"
            ).format(self.t("backfill_ranges"), self._range_where()),
            (
                _json(rec.to_key),
                rec.rows_scanned,
                rec.rows_updated,
                lease_s,
                self.name,
                claim.phase,
                claim.range_no,
                claim.token,
            ),
        )
        if cur.rowcount != 1:
            raise LeaseLost(f"range {claim.range_no} was taken over by another worker")
        stragglers = rec.rows_updated if claim.phase == PHASE_VERIFY else 0
        conn.execute(
            sql.SQL(
                "UPDATE {} SET rows_done = rows_done + %s, rows_scanned = rows_scanned + %s,"
                " batches = batches + %s, stragglers = stragglers + %s,"
                " throttle_ms = throttle_ms + %s, cursor = %s, updated_at = now(),"
                " heartbeat_at = now(), lease_s = %s WHERE name = %s"
            ).format(self.t("backfills")),
            (
                rec.rows_updated,
                rec.rows_scanned if claim.phase == PHASE_BACKFILL else 0,
                1 if claim.phase == PHASE_BACKFILL else 0,
                stragglers,
                int(rec.throttle_ms),
                _json(rec.to_key),
                lease_s,
                self.name,
            ),
        )
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (backfill, phase, range_no, from_key, to_key, batch_size,"
                " rows_scanned, rows_updated, duration_ms, attempts, worker)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ).format(self.t("backfill_batches")),
            (
                self.name,
                claim.phase,
                claim.range_no,
                _json(rec.from_key),
                _json(rec.to_key),
                rec.batch_size,
                rec.rows_scanned,
                rec.rows_updated,
                rec.duration_ms,
                rec.attempts,
                self.worker,
            ),
        )

    def heartbeat(self, conn: Connection, claim: Claim, lease_s: float, reason: str | None) -> None:
        """Renew the lease (while throttled) and publish the throttle reason."""
        with conn.transaction():
            cur = conn.execute(
                sql.SQL(
                    "UPDATE {} SET lease_expires = now() + make_interval(secs => %s) WHERE {}"
                ).format(self.t("backfill_ranges"), self._range_where()),
                (lease_s, self.name, claim.phase, claim.range_no, claim.token),
            )
            if cur.rowcount != 1:
                raise LeaseLost(f"range {claim.range_no} was taken over by another worker")
            conn.execute(
                sql.SQL(
                    "UPDATE {} SET throttle_reason = %s, heartbeat_at = now(), lease_s = %s"
                    " WHERE name = %s"
                ).format(self.t("backfills")),
                (reason, lease_s, self.name),
            )

    def reload(self, conn: Connection, claim: Claim) -> Cursor:
        """The committed cursor of a range we hold (after a lost connection). FOR SHARE: a batch
        whose COMMIT was in flight when the connection was lost still holds the range row;
        waiting for it gives its outcome, so a batch is never applied twice."""
        row = conn.execute(
            sql.SQL("SELECT cursor FROM {} WHERE {} FOR SHARE").format(
                self.t("backfill_ranges"), self._range_where()
            ),
            (self.name, claim.phase, claim.range_no, claim.token),
        ).fetchone()
        if row is None:
            raise LeaseLost(f"range {claim.range_no} was taken over by another worker")
        cursor: Cursor = row[0]
        return cursor

    def finish_range(self, conn: Connection, claim: Claim) -> None:
        cur = conn.execute(
            sql.SQL(
                "UPDATE {} SET status = 'done', lease_token = NULL, lease_expires = NULL,"
                " updated_at = now() WHERE {}"
            ).format(self.t("backfill_ranges"), self._range_where()),
            (self.name, claim.phase, claim.range_no, claim.token),
        )
        if cur.rowcount != 1:
            raise LeaseLost(f"range {claim.range_no} was taken over by another worker")

    def release(self, conn: Connection, claim: Claim) -> None:
        """Give a range back (the run stopped cleanly): claimable at once, cursor kept."""
        conn.execute(
            sql.SQL(
                "UPDATE {} SET status = 'pending', lease_token = NULL, lease_expires = NULL,"
                " updated_at = now() WHERE {}"
            ).format(self.t("backfill_ranges"), self._range_where()),
            (self.name, claim.phase, claim.range_no, claim.token),
        )

    def phase_counts(self, conn: Connection, phase: str) -> dict[str, int]:
        rows = conn.execute(
            sql.SQL(
                "SELECT CASE WHEN status = 'running' AND lease_expires < now() THEN 'expired'"
                " ELSE status END, count(*) FROM {} WHERE backfill = %s AND phase = %s GROUP BY 1"
            ).format(self.t("backfill_ranges")),
            (self.name, phase),
        ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def active_workers(self, conn: Connection) -> int:
        row = conn.execute(
            sql.SQL(
                "SELECT count(*) FROM {} WHERE backfill = %s AND status = 'running'"
                " AND lease_expires >= now()"
            ).format(self.t("backfill_ranges")),
            (self.name,),
        ).fetchone()
        return max(1, int(row[0]) if row else 1)


def _json(value: Cursor) -> Jsonb | None:
    return None if value is None else Jsonb(value)


def expire_dead_local_leases(conn: Connection, store: Store, host: str) -> int:
    """Leases held by processes of this host that no longer exist (kill -9) are expired at
    once, so a resume on the same machine need not wait for the lease to time out."""
    import os

    rows = conn.execute(
        sql.SQL(
            "SELECT phase, range_no, owner, lease_token FROM {} WHERE backfill = %s"
            " AND status = 'running' AND lease_expires >= now() AND owner LIKE %s"
        ).format(store.t("backfill_ranges")),
        (store.name, f"{host}:%"),
    ).fetchall()
    expired = 0
    for phase, range_no, owner, token in rows:
        pid_text = str(owner).rsplit(":", 1)[-1]
        if not pid_text.isdigit():
            continue
        try:
            os.kill(int(pid_text), 0)
            continue  # still alive
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        conn.execute(
            sql.SQL(
                "UPDATE {} SET lease_expires = now() - interval '1 second' WHERE backfill = %s"
                " AND phase = %s AND range_no = %s AND lease_token = %s"
            ).format(store.t("backfill_ranges")),
            (store.name, phase, range_no, token),
        )
        expired += 1
    return expired


def fence_generation(conn: Connection, ledger_schema: str, generation: int) -> None:
    """Inside a batch transaction of ec's run ``generation``: abort it if another run has
    stamped the ledger, and hold off such a stamp (row share lock) until it commits."""
    from expandcontract.backfill.interruptions import BackfillRunLockLost
    from expandcontract.ledger.lock import GENERATION_KEY, LOST_HINT, LOST_MESSAGE

    row = conn.execute(
        sql.SQL("SELECT value FROM {} WHERE key = %s FOR SHARE").format(
            sql.Identifier(ledger_schema, "meta")
        ),
        (GENERATION_KEY,),
    ).fetchone()
    if not row or int(row[0]) != generation:
        raise BackfillRunLockLost(f"{LOST_MESSAGE}; its batch was rolled back", LOST_HINT)
