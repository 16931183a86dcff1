"""The ledger: idempotent install, self-upgrade, idempotent steps, one active migration."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from psycopg import sql

from expandcontract.errors import LedgerError
from expandcontract.ledger import LATEST, ExclusiveRun, Ledger
from expandcontract.pytest_plugin import EcDatabase
from expandcontract.runner import SafeRunner, Step


def _ledger(url: str, schema: str = "expandcontract") -> Ledger:
    return Ledger(SafeRunner(url, sink=None), schema)


def _tables(conn: psycopg.Connection[Any], schema: str) -> set[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))
    return {r[0] for r in rows}


def test_install_is_idempotent(ec_db: EcDatabase) -> None:
    ledger = _ledger(ec_db.url)
    assert ledger.version() is None
    assert ledger.ensure() == list(range(1, LATEST + 1))
    assert ledger.ensure() == []
    assert ledger.version() == LATEST
    with ec_db.connect() as conn:
        assert {"meta", "migrations", "phases", "steps", "backfills"} <= _tables(
            conn, "expandcontract"
        )


def test_custom_ledger_schema(ec_db: EcDatabase) -> None:
    ledger = _ledger(ec_db.url, "Ops Ledger")
    ledger.ensure()
    with ec_db.connect() as conn:
        assert "migrations" in _tables(conn, "Ops Ledger")
        assert _tables(conn, "expandcontract") == set()


def test_concurrent_installs_do_not_collide(ec_db: EcDatabase) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def install() -> None:
        try:
            barrier.wait()
            _ledger(ec_db.url).ensure()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=install) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _ledger(ec_db.url).version() == LATEST


def test_self_upgrade_keeps_existing_records(ec_db: EcDatabase) -> None:
    old = _ledger(ec_db.url)
    assert old.ensure(target=1) == [1]
    assert old.version() == 1
    record = old.start_migration("0001_add_status", base_schema="public", checksum="abc")
    old.set_phase(record.id, "expand", "done")
    with ec_db.connect() as conn:
        assert "backfills" not in _tables(conn, "expandcontract")

    upgraded = _ledger(ec_db.url)
    assert upgraded.ensure() == list(range(2, LATEST + 1))
    assert upgraded.version() == LATEST
    migration = upgraded.active_migration("public")
    assert migration is not None and migration.name == "0001_add_status"
    assert upgraded.phases(migration.id)["expand"]["status"] == "done"
    with ec_db.connect() as conn:
        assert "backfills" in _tables(conn, "expandcontract")


def test_a_ledger_newer_than_this_ec_is_refused(ec_db: EcDatabase) -> None:
    ledger = _ledger(ec_db.url)
    ledger.ensure()
    with ec_db.connect() as conn:
        conn.execute("UPDATE expandcontract.meta SET value = '999' WHERE key = 'ledger_version'")
    with pytest.raises(LedgerError, match="newer than this ec"):
        ledger.ensure()


def test_steps_run_once_per_key(ec_db: EcDatabase) -> None:
    ledger = _ledger(ec_db.url)
    ledger.ensure()
    m = ledger.start_migration("m1", base_schema="public", checksum="x")
    step = Step.of("create t", sql.SQL("CREATE TABLE t (id int)"))
    first = ledger.run_step(m.id, "expand", "create-t", step)
    second = ledger.run_step(m.id, "expand", "create-t", step)
    assert not first.skipped and second.skipped
    with ec_db.connect() as conn:
        rows = conn.execute(
            "SELECT key, description, statement, attempts FROM expandcontract.steps"
        ).fetchall()
    assert rows == [("create-t", "create t", "CREATE TABLE t (id int)", 1)]


def test_one_active_migration_per_base_schema(ec_db: EcDatabase) -> None:
    ledger = _ledger(ec_db.url)
    ledger.ensure()
    first = ledger.start_migration("m1", base_schema="public", checksum="x")
    with pytest.raises(psycopg.errors.UniqueViolation):
        ledger.start_migration("m2", base_schema="public", checksum="y")
    ledger.start_migration("m3", base_schema="billing", checksum="z")
    ledger.finish_migration(first.id)
    ledger.start_migration("m2", base_schema="public", checksum="y")
    assert [m.name for m in ledger.migrations() if m.active] == ["m3", "m2"]


def test_status_reports_versions_migrations_and_phases(ec_db: EcDatabase) -> None:
    ledger = _ledger(ec_db.url)
    assert ledger.status()["initialized"] is False
    ledger.ensure()
    m = ledger.start_migration("m1", base_schema="public", checksum="x", version_schema="public_m1")
    with ExclusiveRun(ec_db.url, "expandcontract", "ec apply"):  # the run is alive
        ledger.set_phase(m.id, "expand", "running")
        status = ledger.status()
    assert status["ledger_version"] == LATEST and status["initialized"] is True
    (migration,) = status["migrations"]
    assert migration["name"] == "m1" and migration["phase"] == "expand"
    assert migration["version_schema"] == "public_m1"
    assert migration["phases"]["expand"]["status"] == "running"
    with pytest.raises(LedgerError, match="unknown phase"):
        ledger.set_phase(m.id, "deploy", "running")
