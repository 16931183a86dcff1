"""Rollback and contract never break a live version: SIGKILL `ec rollback` / `ec complete`
right before each of their steps, then read and write as every version still live at that
instant; running the command again finishes the job."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import Session, engine, migration, schema_shape

LIVE: dict[str, Any] = {
    "operations": [
        {"rename_column": {"table": "users", "from": "email", "to": "email_address"}},
        {
            "alter_column": {
                "table": "users",
                "column": "amount",
                "type": "bigint",
                "up": "amount::bigint",
                "down": "amount::integer",
            }
        },
        {
            "alter_column": {
                "table": "users",
                "column": "nickname",
                "nullable": False,
                "up": "coalesce(nickname, 'anon')",
            }
        },
        {
            "add_column": {
                "table": "users",
                "column": {"name": "status", "type": "text", "nullable": False},
                "up": "'active'",
            }
        },
        {"create_index": {"name": "users_status_idx", "table": "users", "columns": ["status"]}},
        {"drop_column": {"table": "users", "column": "legacy", "down": "false"}},
    ]
}
SCRIPT = Path(__file__).with_name("crash_run.py")
NEW = "public_live"
_ids = itertools.count(10_000)


def _run(url: str, command: str, crash_key: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), url, command, json.dumps(LIVE), crash_key],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=str(SCRIPT.parents[2]),
        check=False,
    )


def _old_version_writes(url: str) -> None:
    """The old app: base schema, old names; an insert with a NULL nickname and an update."""
    i = next(_ids)
    old = Session(url, None)
    old.run(
        f"INSERT INTO users (id, email, nickname, amount, legacy) VALUES ({i}, 'o{i}@x', NULL,"
        f" {i}, true)",
        f"UPDATE users SET amount = amount + 1, nickname = 'n{i}' WHERE id IN (1, {i})",
    )
    assert old.rows(f"SELECT amount FROM users WHERE id = {i}") == [(i + 1,)]


def _new_version_writes(url: str) -> None:
    i = next(_ids)
    new = Session(url, NEW)
    new.run(
        f"INSERT INTO users (id, email_address, nickname, amount, status) VALUES ({i},"
        f" 'n{i}@x', 'nick', 2000000000, 'new')",
        f"UPDATE users SET amount = amount + 1 WHERE id IN (2, {i})",
    )
    assert new.rows(f"SELECT amount, status FROM users WHERE id = {i}") == [(2000000001, "new")]


def _schema_exists(url: str, name: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (name,)).fetchone()
    return row is not None


@pytest.fixture
def expanded(seeded: EcDatabase) -> tuple[EcDatabase, dict[str, Any]]:
    """The seeded database with LIVE expanded and backfilled (both versions live), and its
    schema shape before the migration."""
    before = _shape(seeded.url)
    result = _run(seeded.url, "apply")
    assert result.returncode == 0, result.stderr
    return seeded, before


def _shape(url: str) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        return schema_shape(conn)


def _clone(db: EcDatabase, suffix: str) -> str:
    return db.server.create_database(f"{db.name}_{suffix}", template=db.name)


def _step_keys(db: EcDatabase, command: str) -> list[str]:
    url = _clone(db, "keys")
    try:
        full = _run(url, command)
        assert full.returncode == 0, full.stderr
        keys: list[str] = json.loads(full.stdout)["steps"]
        return keys
    finally:
        db.server.drop_database(f"{db.name}_keys")


def test_rollback_killed_before_each_step_keeps_the_old_version_working(
    expanded: tuple[EcDatabase, dict[str, Any]],
) -> None:
    db, before = expanded
    keys = _step_keys(db, "rollback")
    assert len(keys) >= 3
    for n, key in enumerate(keys):
        url = _clone(db, f"rb{n}")
        try:
            killed = _run(url, "rollback", key)
            assert killed.returncode == -9, f"did not reach {key}: {killed.stderr}"
            _old_version_writes(url)  # at every instant of a rollback
            if _schema_exists(url, NEW):
                _new_version_writes(url)
            done = _run(url, "rollback")
            assert done.returncode == 0, done.stderr
            _old_version_writes(url)
            assert _shape(url) == before, f"rollback killed before {key} did not finish cleanly"
        finally:
            db.server.drop_database(f"{db.name}_rb{n}")


def test_contract_killed_before_each_step_keeps_the_new_version_working(
    expanded: tuple[EcDatabase, dict[str, Any]],
) -> None:
    db, _ = expanded
    keys = _step_keys(db, "complete")
    swap = next(i for i, k in enumerate(keys) if k.startswith("contract/columns:users"))
    assert swap > 3
    reference = _clone(db, "ref")
    try:
        assert _run(reference, "complete").returncode == 0
        for n, key in enumerate(keys):
            url = _clone(db, f"ct{n}")
            try:
                killed = _run(url, "complete", key)
                assert killed.returncode == -9, f"did not reach {key}: {killed.stderr}"
                _new_version_writes(url)
                if n <= swap:  # the old version is retired by the swap of its columns
                    _old_version_writes(url)
                done = _run(url, "complete")
                assert done.returncode == 0, done.stderr
                assert _shape(url) == _shape(reference)
            finally:
                db.server.drop_database(f"{db.name}_ct{n}")
    finally:
        db.server.drop_database(f"{db.name}_ref")


def test_old_version_writers_never_fail_during_a_rollback(
    expanded: tuple[EcDatabase, dict[str, Any]],
) -> None:
    db, before = expanded
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            try:
                _old_version_writes(db.url)
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        engine(db.url).rollback()
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[0]
    assert _shape(db.url) == before


def test_rollback_of_a_not_null_twin_with_old_version_inserts(ec_db: EcDatabase) -> None:
    """The issue's reproduction: the NOT VALID check on the twin must never outlive the
    trigger that fills the twin."""
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE users (id int PRIMARY KEY, nickname text)")
        conn.execute("INSERT INTO users SELECT g, NULL FROM generate_series(1, 50) g")
    m = migration(
        "nn",
        {
            "alter_column": {
                "table": "users",
                "column": "nickname",
                "nullable": False,
                "up": "coalesce(nickname, 'anon')",
            }
        },
    )
    ec = engine(ec_db.url)
    ec.apply(m)
    ec.rollback()
    Session(ec_db.url, None).run("INSERT INTO users VALUES (1000, NULL)")


@pytest.mark.parametrize(
    ("setup", "what"),
    [
        (
            [
                "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS"
                " 'BEGIN RETURN NEW; END'",
                "CREATE TRIGGER t_legacy BEFORE UPDATE OF legacy ON users"
                " FOR EACH ROW EXECUTE FUNCTION touch()",
            ],
            "trigger t_legacy",
        ),
        (
            [
                "ALTER TABLE users ENABLE ROW LEVEL SECURITY",
                "CREATE POLICY p_legacy ON users USING (NOT legacy)",
            ],
            "policy p_legacy",
        ),
        (
            [
                "ALTER TABLE users ADD COLUMN legacy_text text"
                " GENERATED ALWAYS AS (legacy::text) STORED"
            ],
            "default value for column legacy_text",
        ),
    ],
    ids=["trigger", "policy", "generated"],
)
def test_objects_that_would_break_contract_half_way_are_refused_first(
    seeded: EcDatabase, setup: list[str], what: str
) -> None:
    """DROP COLUMN at contract would fail on these after hours of backfill: refused at plan."""
    with seeded.connect() as conn:
        for statement in setup:
            conn.execute(statement)
        before = schema_shape(conn)
    ec = engine(seeded.url)
    with pytest.raises(Exception, match=what):
        ec.apply(migration("d", {"drop_column": {"table": "users", "column": "legacy"}}))
    with seeded.connect() as conn:
        assert schema_shape(conn) == before


def test_a_twinned_column_moves_to_the_end_of_the_table(seeded: EcDatabase) -> None:
    ec = engine(seeded.url)
    ec.apply(migration("wide", LIVE["operations"][1]))
    ec.complete()
    with seeded.connect() as conn:
        columns = [c[0] for c in schema_shape(conn)["users"]["columns"]]
    assert columns == ["id", "email", "nickname", "legacy", "amount"]
