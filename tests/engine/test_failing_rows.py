"""A row `up` cannot convert never takes the old version down: its writes go through and the
row stays pending; the backfill lists every such row (key and error) and the migration cannot
complete until they are fixed; `--on-failure rollback` undoes the migration instead; contract
refuses rows that became pending and then refuses new ones, because they could not survive
the swap."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from expandcontract.engine.api import MigrationError
from expandcontract.engine.backfill import PendingRows
from expandcontract.errors import ECError
from expandcontract.operations import PlannedStep
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import Session, engine, migration, schema_shape

TO_INT = {
    "alter_column": {
        "table": "codes",
        "column": "code",
        "type": "integer",
        "up": "code::integer",
        "down": "code::text",
    }
}
BAD = {7: "abc", 321: "x1", 480: ""}


@pytest.fixture
def codes(ec_db: EcDatabase) -> EcDatabase:
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE codes (id int PRIMARY KEY, code text)")
        conn.execute("INSERT INTO codes SELECT g, g::text FROM generate_series(1, 500) g")
        for key, value in BAD.items():
            conn.execute("UPDATE codes SET code = %s WHERE id = %s", (value, key))
    return ec_db


def _old_insert(url: str, key: int, code: str) -> list[str]:
    """Insert as the old version; the WARNINGs the server sent back."""
    notices: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        conn.execute("INSERT INTO codes VALUES (%s, %s)", (key, code))
    return notices


def test_old_version_writes_never_fail_while_up_fails_on_rows(codes: EcDatabase) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def old_app(start: int) -> None:
        key = start
        while not stop.is_set():
            try:
                key += 2
                _old_insert(codes.url, key, "oops" if key % 3 == 0 else str(key))
                Session(codes.url, None).run(f"UPDATE codes SET code = 'bad{key}' WHERE id = 100")
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=old_app, args=(s,)) for s in (10_000, 10_001)]
    for t in threads:
        t.start()
    try:
        with pytest.raises(PendingRows) as info:
            engine(codes.url).apply(migration("to_int", TO_INT))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[0]
    failure = info.value
    # Every bad row is listed, not only the first one: the lowest keys come first, so the
    # old app's later bad inserts (keys from 10002) do not push the seeded ones out.
    for key in BAD:
        assert f"(id)=({key})" in failure.message
    positions = [failure.message.index(f"(id)=({key})") for key in sorted(BAD)]
    assert positions == sorted(positions)
    assert "invalid input syntax for type integer" in failure.message
    assert failure.count >= len(BAD) + 1  # + row 100 and the old app's bad inserts
    assert "State:" in (failure.hint or "") and "Next:" in (failure.hint or "")


def test_failing_rows_are_listed_fixed_and_the_migration_completes(codes: EcDatabase) -> None:
    ec = engine(codes.url)
    with pytest.raises(PendingRows):
        ec.apply(migration("to_int", TO_INT))
    status = ec.status()
    assert status["phase"] == "backfill"
    (record,) = status["migrations"]
    assert record["phases"]["backfill"]["status"] == "failed"
    assert "(id)=(321)" in record["phases"]["backfill"]["error"]
    assert status["pending_rows"] == {"public.codes": 3}
    # The old version keeps writing rows the new version cannot read yet (with a warning).
    notices = _old_insert(codes.url, 9001, "nope")
    assert any("stay pending" in n for n in notices)
    new = Session(codes.url, "public_to_int")
    assert new.rows("SELECT code FROM codes WHERE id IN (1, 9001) ORDER BY id") == [(1,), (None,)]
    # Fixing the data as the old version converts each row on the spot.
    Session(codes.url, None).run("UPDATE codes SET code = '0' WHERE code !~ '^[0-9]+$'")
    ec.apply(migration("to_int", TO_INT))
    ec.complete()
    assert Session(codes.url, None).rows(
        "SELECT id, code FROM codes WHERE id IN (7, 8, 9001) ORDER BY id"
    ) == [(7, 0), (8, 8), (9001, 0)]


def test_on_failure_rollback_restores_the_database(codes: EcDatabase) -> None:
    with codes.connect() as conn:
        before = schema_shape(conn)
        rows = conn.execute("SELECT * FROM codes ORDER BY id").fetchall()
    ec = engine(codes.url)
    with pytest.raises(MigrationError, match="rolled back automatically") as info:
        ec.apply(migration("to_int", TO_INT), on_failure="rollback")
    assert "(id)=(7)" in info.value.message
    with codes.connect() as conn:
        assert schema_shape(conn) == before
        assert conn.execute("SELECT * FROM codes ORDER BY id").fetchall() == rows
    assert ec.status()["migration"] is None
    with pytest.raises(MigrationError, match="unknown --on-failure"):
        ec.apply(migration("to_int", TO_INT), on_failure="ignore")


def test_a_null_from_up_on_a_not_null_change_is_a_failing_row(ec_db: EcDatabase) -> None:
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE people (id int PRIMARY KEY, nickname text)")
        conn.execute(
            "INSERT INTO people SELECT g, CASE WHEN g = 5 THEN NULL ELSE 'n' END"
            " FROM generate_series(1, 20) g"
        )
    m = migration(
        "nn",
        {"alter_column": {"table": "people", "column": "nickname", "nullable": False,
                          "up": "nickname"}},
    )  # fmt: skip
    ec = engine(ec_db.url)
    with pytest.raises(PendingRows, match=r"\(id\)=\(5\).*up gives NULL"):
        ec.apply(m)
    old = Session(ec_db.url, None)
    old.run("INSERT INTO people VALUES (100, NULL)")  # the old version may still write NULL
    old.run("UPDATE people SET nickname = 'x' WHERE nickname IS NULL")
    ec.apply(m)
    ec.complete()
    with ec_db.connect() as conn:
        shape = schema_shape(conn)["people"]
    assert ("nickname", "text", False, None) in shape["columns"]


class _Stop(Exception):
    pass


def test_contract_converts_or_refuses_rows_that_became_pending(codes: EcDatabase) -> None:
    Session(codes.url, None).run("UPDATE codes SET code = '1' WHERE code !~ '^[0-9]+$'")
    ec = engine(codes.url)
    ec.apply(migration("to_int", TO_INT))
    # After the backfill the old version writes a row `up` cannot convert: it goes through.
    _old_insert(codes.url, 7001, "seven")
    with pytest.raises(ECError, match=r"contract stopped.*invalid input syntax") as info:
        ec.complete()
    assert "Next:" in (info.value.hint or "")
    # The failed contract left the trigger tolerant: the old version still writes.
    _old_insert(codes.url, 7002, "eight")
    Session(codes.url, None).run("UPDATE codes SET code = '7' WHERE id IN (7001, 7002)")
    ec.complete()
    assert Session(codes.url, None).rows(
        "SELECT code FROM codes WHERE id IN (7001, 7002) ORDER BY id"
    ) == [(7,), (7,)]


def test_once_contract_started_an_unconvertible_old_write_is_refused(codes: EcDatabase) -> None:
    Session(codes.url, None).run("UPDATE codes SET code = '1' WHERE code !~ '^[0-9]+$'")
    seen: list[str] = []

    def stop_after_strict(phase: str, step: PlannedStep) -> None:
        if phase == "contract" and seen and seen[-1].startswith("strict:"):
            raise _Stop
        seen.append(step.key)

    ec = engine(codes.url)
    ec.apply(migration("to_int", TO_INT))
    ec.before_step = stop_after_strict
    with pytest.raises(_Stop):
        ec.complete()
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        _old_insert(codes.url, 7003, "nine")
    _old_insert(codes.url, 7004, "10")  # convertible writes go on
    ec.before_step = None
    ec.complete()


def test_a_volatile_up_is_computed_once_per_row(ec_db: EcDatabase) -> None:
    """The engine's backfill touches pending rows only: its verification sweep and a re-run
    never compute a row twice, whatever `up` is."""
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
        conn.execute("INSERT INTO t SELECT g, g FROM generate_series(1, 3000) g")
    m = migration(
        "tok",
        {"add_column": {"table": "t", "column": {"name": "token", "type": "uuid"},
                        "up": "gen_random_uuid()"}},
    )  # fmt: skip
    ec = engine(ec_db.url)
    ec.apply(m)
    new = Session(ec_db.url, "public_tok")
    first: list[Any] = new.rows("SELECT id, token FROM t ORDER BY id")
    assert len({token for _, token in first}) == 3000 and all(t for _, t in first)
    ec.apply(m)  # resume: nothing left to do
    ec.complete()
    assert Session(ec_db.url, None).rows("SELECT id, token FROM t ORDER BY id") == first


def test_tolerating_row_errors_assigns_no_subtransaction_ids(codes: EcDatabase) -> None:
    """The trigger's exception block is a subtransaction per row write; it must never get a
    transaction id of its own (64 of those per transaction overflow the subxid cache, a
    cluster-wide slowdown). A 2,000-row INSERT in one transaction consumes ~1 xid."""
    ec = engine(codes.url)
    with pytest.raises(PendingRows):
        ec.apply(migration("to_int", TO_INT))

    def next_xid() -> int:
        with codes.connect() as conn:
            row = conn.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text").fetchone()
        assert row is not None
        return int(row[0])

    before = next_xid()
    Session(codes.url, None).run(
        "INSERT INTO codes SELECT g, CASE WHEN g % 5 = 0 THEN 'bad' ELSE g::text END"
        " FROM generate_series(20001, 22000) g"
    )
    assert next_xid() - before < 10
    assert Session(codes.url, "public_to_int").rows(
        "SELECT count(*), count(code) FROM codes WHERE id > 20000"
    ) == [(2000, 1600)]


def test_each_row_is_computed_exactly_once_across_a_killed_backfill(ec_db: EcDatabase) -> None:
    """`up` with a side effect (it records every call that commits) over 40,000 rows: SIGKILL
    `ec apply` in the middle of the backfill, re-run it; every row computed exactly once."""
    import json
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
        conn.execute("INSERT INTO t SELECT g, g FROM generate_series(1, 40000) g")
        conn.execute("CREATE TABLE calls (id int)")
        conn.execute(
            "CREATE FUNCTION record_call(i int) RETURNS int LANGUAGE sql"
            " AS 'INSERT INTO calls VALUES (i) RETURNING i * 2'"
        )
    spec = {"operations": [{"add_column": {"table": "t", "column": {"name": "w", "type": "int"},
                                           "up": "record_call(id)"}}]}  # fmt: skip
    script = Path(__file__).with_name("crash_run.py")
    args = [sys.executable, str(script), ec_db.url, "apply", json.dumps(spec), ""]
    proc = subprocess.Popen(args, cwd=str(script.parents[2]), stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with ec_db.connect() as conn:
                done = conn.execute("SELECT count(*) FROM calls").fetchone()
            if done and 0 < done[0] < 40000:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -9, "the backfill finished before it could be killed"
    with ec_db.connect() as conn:
        partial = conn.execute("SELECT count(*) FROM calls").fetchone()
    assert partial is not None and 0 < partial[0] < 40000
    resumed = subprocess.run(args, cwd=str(script.parents[2]), capture_output=True, check=False)
    assert resumed.returncode == 0, resumed.stderr
    with ec_db.connect() as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT id) FROM calls").fetchone() == (
            40000,
            40000,
        )
    assert Session(ec_db.url, "public_live").rows("SELECT count(*) FROM t WHERE w = id * 2") == [
        (40000,)
    ]


def test_ec_status_lists_what_needs_the_user(codes: EcDatabase) -> None:
    from click.testing import CliRunner

    from expandcontract.cli import cli

    with pytest.raises(PendingRows):
        engine(codes.url).apply(migration("to_int", TO_INT))
    out = CliRunner().invoke(cli, ["status", "-d", codes.url]).output
    assert "3 row(s) of public.codes are pending" in out
    assert "backfill failed: 3 row(s) of public.codes cannot be converted" in out
    assert "(id)=(321)" in out


def test_on_failure_rollback_from_the_cli(codes: EcDatabase, tmp_path: Any) -> None:
    import json as _json

    from click.testing import CliRunner

    from expandcontract.cli import cli

    path = tmp_path / "to_int.json"
    path.write_text(_json.dumps({"operations": [TO_INT]}))
    result = CliRunner().invoke(
        cli, ["apply", str(path), "--on-failure", "rollback", "-d", codes.url]
    )
    assert result.exit_code == 1, result.output
    assert "rolled back automatically" in result.output
    assert engine(codes.url).status()["migration"] is None
