"""The ledger's own schema, as an ordered list of versions. A version is never edited once
released: changes are new versions, applied in order by ``Ledger.ensure()``."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql


def _v1(s: sql.Identifier) -> list[sql.Composed]:
    return [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s),
        sql.SQL("CREATE TABLE {}.meta (key text PRIMARY KEY, value text NOT NULL)").format(s),
        sql.SQL(
            """CREATE TABLE {s}.migrations (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                name text NOT NULL,
                base_schema text NOT NULL,
                checksum text NOT NULL,
                spec jsonb,
                version_schema text,
                old_schema text,
                phase text NOT NULL DEFAULT 'planned',
                active boolean NOT NULL DEFAULT true,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now(),
                host text,
                os_user text,
                db_user text NOT NULL DEFAULT current_user,
                ec_version text,
                UNIQUE (base_schema, name)
            )"""
        ).format(s=s),
        # One active migration per base schema, enforced by the database itself.
        sql.SQL(
            "CREATE UNIQUE INDEX migrations_one_active ON {}.migrations (base_schema) WHERE active"
        ).format(s),
        sql.SQL(
            """CREATE TABLE {s}.phases (
                migration_id bigint NOT NULL REFERENCES {s}.migrations (id) ON DELETE CASCADE,
                phase text NOT NULL,
                status text NOT NULL,
                started_at timestamptz NOT NULL DEFAULT now(),
                finished_at timestamptz,
                error text,
                host text,
                os_user text,
                PRIMARY KEY (migration_id, phase)
            )"""
        ).format(s=s),
        sql.SQL(
            """CREATE TABLE {s}.steps (
                migration_id bigint NOT NULL REFERENCES {s}.migrations (id) ON DELETE CASCADE,
                phase text NOT NULL,
                key text NOT NULL,
                description text NOT NULL,
                statement text,
                attempts integer,
                duration_ms double precision,
                finished_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (migration_id, phase, key)
            )"""
        ).format(s=s),
    ]


def _v2(s: sql.Identifier) -> list[sql.Composed]:
    return [
        sql.SQL(
            """CREATE TABLE {s}.backfills (
                name text PRIMARY KEY,
                migration_id bigint REFERENCES {s}.migrations (id) ON DELETE CASCADE,
                table_schema text NOT NULL,
                table_name text NOT NULL,
                spec jsonb NOT NULL,
                checksum text NOT NULL,
                status text NOT NULL DEFAULT 'pending',
                cursor jsonb,
                rows_done bigint NOT NULL DEFAULT 0,
                batches bigint NOT NULL DEFAULT 0,
                verified boolean NOT NULL DEFAULT false,
                error text,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now(),
                finished_at timestamptz
            )"""
        ).format(s=s),
    ]


def _v3(s: sql.Identifier) -> list[sql.Composed]:
    return [
        sql.SQL(
            """ALTER TABLE {s}.backfills
                ADD COLUMN key_kind text,
                ADD COLUMN key_columns jsonb,
                ADD COLUMN requested text,
                ADD COLUMN throttle_reason text,
                ADD COLUMN throttle_ms bigint NOT NULL DEFAULT 0,
                ADD COLUMN rows_scanned bigint NOT NULL DEFAULT 0,
                ADD COLUMN stragglers bigint NOT NULL DEFAULT 0,
                ADD COLUMN total_estimate bigint,
                ADD COLUMN started_at timestamptz"""
        ).format(s=s),
        # Work queue: key ranges claimed with FOR UPDATE SKIP LOCKED and fenced by a lease token.
        sql.SQL(
            """CREATE TABLE {s}.backfill_ranges (
                backfill text NOT NULL REFERENCES {s}.backfills (name) ON DELETE CASCADE,
                phase text NOT NULL,
                range_no integer NOT NULL,
                lo jsonb,
                hi jsonb,
                cursor jsonb,
                status text NOT NULL DEFAULT 'pending',
                owner text,
                lease_token uuid,
                lease_expires timestamptz,
                claims integer NOT NULL DEFAULT 0,
                rows_scanned bigint NOT NULL DEFAULT 0,
                rows_updated bigint NOT NULL DEFAULT 0,
                batches bigint NOT NULL DEFAULT 0,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (backfill, phase, range_no)
            )"""
        ).format(s=s),
        # One row per committed batch, written in the batch's own transaction.
        sql.SQL(
            """CREATE TABLE {s}.backfill_batches (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                backfill text NOT NULL REFERENCES {s}.backfills (name) ON DELETE CASCADE,
                phase text NOT NULL,
                range_no integer NOT NULL,
                from_key jsonb,
                to_key jsonb,
                batch_size integer NOT NULL,
                rows_scanned integer NOT NULL,
                rows_updated integer NOT NULL,
                duration_ms double precision NOT NULL,
                attempts integer NOT NULL,
                worker text,
                finished_at timestamptz NOT NULL DEFAULT now()
            )"""
        ).format(s=s),
        sql.SQL(
            "CREATE INDEX backfill_batches_by_name ON {}.backfill_batches (backfill, id)"
        ).format(s),
    ]


def _v4(s: sql.Identifier) -> list[sql.Composed]:
    # A live run renews heartbeat_at at least every lease_s seconds (batches, claims, throttle
    # pauses, the coordinator's polls): a run recorded `running` without a live lease and
    # without a heartbeat for longer than its lease is gone, and status says so.
    return [
        sql.SQL(
            "ALTER TABLE {}.backfills ADD COLUMN heartbeat_at timestamptz,"
            " ADD COLUMN lease_s double precision"
        ).format(s),
    ]


# (version, what it adds, statements). Append only.
VERSIONS = [
    (1, "migrations, phases and idempotent steps", _v1),
    (2, "backfill checkpoints", _v2),
    (3, "backfill ranges, leases and batch records", _v3),
    (4, "backfill heartbeats", _v4),
]

LATEST = VERSIONS[-1][0]


def read_version(conn: psycopg.Connection[Any], schema: str) -> int | None:
    """The installed ledger version in ``schema``, or None when there is no ledger."""
    # A plain catalog query, not to_regclass(): the syscache can hold a stale "does not exist"
    # after we waited on an advisory lock (no relation lock means no cache invalidation).
    exists = conn.execute(
        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = 'meta'",
        (schema,),
    ).fetchone()
    if not exists:
        return None
    row = conn.execute(
        sql.SQL("SELECT value FROM {} WHERE key = 'ledger_version'").format(
            sql.Identifier(schema, "meta")
        )
    ).fetchone()
    return int(row[0]) if row else None
