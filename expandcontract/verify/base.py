"""The databases a verify starts from: the schema before the migration (``create_all`` of the
old MetaData, a DDL dump, or earlier ec migrations), the seed rows, and per-version reference
databases that tell whether a generated row is one the version itself could write."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import MetaData, Table, create_engine, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import CreateSchema

from expandcontract.config import Settings
from expandcontract.dsn import to_psycopg, to_sqlalchemy
from expandcontract.errors import ConfigError
from expandcontract.verify.seed import RowFactory
from expandcontract.verify.tracker import Key, Tracker, Written
from expandcontract.verify.workload import reason_of, sql_text

SEED_BATCH = 500
MIGRATION_SUFFIXES = (".yaml", ".yml", ".json")


def sa_engine(url: str, schema: str = "public") -> Engine:
    engine = create_engine(to_sqlalchemy(url), poolclass=NullPool)
    if schema != "public":
        engine = engine.execution_options(schema_translate_map={None: schema})
    return engine


def create_all(url: str, metadata: MetaData, schema: str) -> None:
    engine = sa_engine(url, schema)
    try:
        with engine.begin() as conn:
            if schema != "public":
                conn.execute(CreateSchema(schema, if_not_exists=True))
            metadata.create_all(conn)
    finally:
        engine.dispose()


def run_sql_file(url: str, path: Path) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read --base-sql file {path}: {exc.strerror}") from None
    with psycopg.connect(to_psycopg(url), autocommit=True) as conn:
        try:
            conn.execute(text.encode())  # the simple protocol runs a multi-statement dump
        except psycopg.Error as exc:
            raise ConfigError(f"--base-sql {path} failed: {str(exc).splitlines()[0]}") from None


def apply_history(url: str, directory: Path, settings: Settings) -> list[str]:
    """Earlier ec migrations, in file-name order, each applied through contract."""
    from expandcontract.engine.api import Engine
    from expandcontract.engine.backfill import table_backfill
    from expandcontract.engine.migration import load

    if not directory.is_dir():
        raise ConfigError(f"--history {directory} is not a directory")
    files = sorted(p for p in directory.iterdir() if p.suffix in MIGRATION_SUFFIXES)
    if not files:
        raise ConfigError(f"--history {directory} holds no ec migration (.yaml, .yml, .json)")
    engine = Engine(url, settings, backfill=table_backfill(url, settings), sink=None)
    for path in files:
        engine.apply(load(path), through="contract")
    return [p.name for p in files]


class Reference:
    """A database with exactly one version's ``create_all``: a generated row is valid for the
    version when it inserts there (foreign keys off, rolled back)."""

    def __init__(self, url: str, metadata: MetaData, option: str) -> None:
        try:
            create_all(url, metadata, "public")
        except SQLAlchemyError as exc:
            raise ConfigError(
                f"{option}: PostgreSQL rejects the MetaData's own tables: {reason_of(exc)}",
                "check the models: `metadata.create_all()` must work on an empty database",
            ) from None
        self.engine = sa_engine(url)
        self.conn = self.engine.connect()
        self.conn.exec_driver_sql("SET session_replication_role = replica")
        self.conn.commit()
        self._lock = threading.Lock()

    def valid(self, table: Table, row: dict[str, Any]) -> bool:
        with self._lock:
            trans = self.conn.begin()
            try:
                self.conn.execute(insert(table).values(row))
                return True
            except SQLAlchemyError:
                return False
            finally:
                trans.rollback()

    def all_valid(self, table: Table, rows: list[dict[str, Any]]) -> bool:
        """One rolled-back multi-row INSERT: the fast path for seeding."""
        with self._lock:
            trans = self.conn.begin()
            try:
                self.conn.execute(insert(table), rows)
                return True
            except SQLAlchemyError:
                return False
            finally:
                trans.rollback()

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()


def seed(
    engine: Engine,
    metadata: MetaData,
    factory: RowFactory,
    reference: Reference,
    tracker: Tracker,
    rows: int,
) -> tuple[dict[str, list[Key]], list[tuple[str, str]]]:
    """``rows`` rows per table, parents first; returns keys per table and failures
    (statement, reason) — a base schema that refuses rows valid for the old version."""
    keys: dict[str, list[Key]] = {}
    failures: list[tuple[str, str]] = []
    for table in metadata.sorted_tables:
        batch = [factory.row(table, full=True) for _ in range(rows)]
        if not reference.all_valid(table, batch):
            batch = [_valid_row(table, row, factory, reference) for row in batch]
        keys[table.name] = []
        for start in range(0, len(batch), SEED_BATCH):
            chunk = batch[start : start + SEED_BATCH]
            inserted = _insert(engine, table, chunk, failures)
            for row, full in inserted:
                key = tuple(full[c.name] for c in table.primary_key.columns)
                keys[table.name].append(key)
                tracker.wrote(
                    table.name, key, Written("old", table.name, row, "seed", inserted=True)
                )
                for column, value in full.items():
                    if value is not None:
                        factory.parents.setdefault((table.name, column), []).append(value)
    return keys, failures


def _valid_row(
    table: Table, row: dict[str, Any], factory: RowFactory, reference: Reference
) -> dict[str, Any]:
    for _ in range(20):
        if reference.valid(table, row):
            return row
        row = factory.row(table, full=True)
    return row


def _insert(
    engine: Engine,
    table: Table,
    rows: list[dict[str, Any]],
    failures: list[tuple[str, str]],
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    stmt = insert(table).returning(*table.columns, sort_by_parameter_order=True)
    try:
        with engine.begin() as conn:
            result = conn.execute(stmt, rows).fetchall()
        return [(row, dict(r._mapping)) for row, r in zip(rows, result, strict=True)]
    except SQLAlchemyError:
        pass
    out = []  # one by one, to name the rows the schema refuses
    for row in rows:
        one = insert(table).values(row).returning(*table.columns)
        try:
            with engine.begin() as conn:
                found = conn.execute(one).first()
            if found is not None:
                out.append((row, dict(found._mapping)))
        except SQLAlchemyError as exc:
            reason = reason_of(exc)
            known = {r.split(" (Failing row")[0] for _, r in failures}
            if reason.split(" (Failing row")[0] not in known and len(failures) < 20:
                failures.append((sql_text(one, row), reason))
    return out
