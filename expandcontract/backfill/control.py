"""Status and control of backfills: ``backfill_status``, ``pause_backfill``,
``resume_backfill``, ``cancel_backfill`` (flags in the ledger, read by every worker).
A backfill recorded ``running`` whose workers are gone (no live lease, no heartbeat for
longer than a lease) is reported ``interrupted``, since when, and how to resume it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import sql

from expandcontract.backfill.errors import BackfillInputError
from expandcontract.backfill.store import Store
from expandcontract.dsn import to_psycopg
from expandcontract.ledger.liveness import INTERRUPTED, backfill_liveness, backfill_resume_hint
from expandcontract.runner.runner import Connection, connect


def backfill_status(
    url: str, name: str | None = None, *, ledger_schema: str = "expandcontract"
) -> list[dict[str, Any]]:
    """Every backfill (or the named one) with range and lease details."""
    with connect(to_psycopg(url), application_name="ec-backfill-status") as conn:
        if not _has_ledger(conn, ledger_schema):
            if name:
                raise _unknown(name)
            return []
        listing = sql.SQL("SELECT name FROM {} ORDER BY created_at").format(
            sql.Identifier(ledger_schema, "backfills")
        )
        names = [name] if name else [str(r[0]) for r in conn.execute(listing).fetchall()]
        out = []
        for n in names:
            store = Store(ledger_schema, n)
            row = store.row(conn)
            if row is None:
                raise _unknown(n)
            out.append(_describe(conn, store, row))
        return out


def _liveness(conn: Connection, store: Store) -> tuple[str, Any]:
    """(status to show, last sign of life) of the backfill."""
    heartbeats = conn.execute(
        "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(format('%%I.backfills', %s::text))"
        " AND attname = 'heartbeat_at' AND NOT attisdropped",
        (store.schema,),
    ).fetchone()
    row = conn.execute(
        sql.SQL("SELECT {} FROM {} b WHERE b.name = %s").format(
            backfill_liveness(store.schema, heartbeats=heartbeats is not None),
            store.t("backfills"),
        ),
        (store.name,),
    ).fetchone()
    assert row is not None
    return str(row[0]), row[1]


def _describe(conn: Connection, store: Store, row: Mapping[str, Any]) -> dict[str, Any]:
    ranges = conn.execute(
        sql.SQL(
            "SELECT phase, range_no, status, owner, lease_expires < now(), rows_scanned,"
            " rows_updated, batches, claims FROM {} WHERE backfill = %s ORDER BY phase, range_no"
        ).format(store.t("backfill_ranges")),
        (store.name,),
    ).fetchall()
    status, last_seen = _liveness(conn, store)
    if status == "running" and row["requested"] == "pause":
        status = "paused"
    gone: dict[str, Any] = {}
    if status == INTERRUPTED:
        seen = last_seen.isoformat()
        gone = {
            "last_seen": seen,
            "hint": backfill_resume_hint(store.name, row["spec"], row["migration_id"], seen),
        }
    total = int(row["total_estimate"] or 0)
    scanned = int(row["rows_scanned"])
    return {
        "name": row["name"],
        "table": f"{row['table_schema']}.{row['table_name']}",
        "status": status,
        "requested": row["requested"],
        "spec": row["spec"],
        "key_kind": row["key_kind"],
        "rows_updated": int(row["rows_done"]),
        "rows_scanned": scanned,
        "rows_estimate": total,
        "percent": round(min(100.0, 100.0 * scanned / total), 1) if total else None,
        "batches": int(row["batches"]),
        "stragglers": int(row["stragglers"]),
        "verified": bool(row["verified"]),
        "throttle_reason": row["throttle_reason"],
        "throttle_s": int(row["throttle_ms"]) / 1000,
        "error": row["error"],
        "updated_at": row["updated_at"].isoformat(),
        **gone,
        "ranges": [
            {
                "phase": r[0],
                "range": r[1],
                "status": r[2],
                "owner": r[3],
                "lease_expired": bool(r[4]) if r[4] is not None else None,
                "rows_scanned": r[5],
                "rows_updated": r[6],
                "batches": r[7],
                "claims": r[8],
            }
            for r in ranges
        ],
    }


def _has_ledger(conn: Connection, ledger_schema: str) -> bool:
    row = conn.execute(
        "SELECT to_regclass(format('%%I.backfill_ranges', %s::text)) IS NOT NULL",
        (ledger_schema,),
    ).fetchone()
    return bool(row and row[0])


def _unknown(name: str) -> BackfillInputError:
    return BackfillInputError(
        f"no backfill named {name!r}", "`ec backfill status` lists the backfills of this database"
    )


def _request(url: str, name: str, flag: str | None, ledger_schema: str) -> dict[str, Any]:
    with connect(to_psycopg(url), application_name="ec-backfill-control") as conn:
        if not _has_ledger(conn, ledger_schema):
            raise _unknown(name)
        store = Store(ledger_schema, name)
        if store.request(conn, flag) != 1:
            raise _unknown(name)
        row = store.row(conn)
        assert row is not None
        return _describe(conn, store, row)


def pause_backfill(url: str, name: str, *, ledger_schema: str = "expandcontract") -> dict[str, Any]:
    """Running workers pause before their next batch (within one check interval)."""
    return _request(url, name, "pause", ledger_schema)


def resume_backfill(
    url: str, name: str, *, ledger_schema: str = "expandcontract"
) -> dict[str, Any]:
    return _request(url, name, None, ledger_schema)


def cancel_backfill(
    url: str, name: str, *, ledger_schema: str = "expandcontract"
) -> dict[str, Any]:
    """Workers stop after their current batch; ``run`` with the same name resumes later."""
    return _request(url, name, "cancel", ledger_schema)
