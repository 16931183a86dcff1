"""Connections come back: connect() waits for a restarting server (bounded) but fails fast on
a bad password or database; SafeRunner's bookkeeping and steps survive a terminated session
and a server restart."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest
from psycopg import sql

from expandcontract.errors import ECError
from expandcontract.ledger import Ledger
from expandcontract.pytest_plugin import EcDatabase
from expandcontract.runner import RetryPolicy, SafeRunner, Step, connect
from expandcontract.runner.reconnect import ConnectionFailed
from tests.runner.restartable import RestartableServer

EC_OPTION = "options=-c%20expandcontract.version%3Dv2"


class Sleeps:
    """Records the backoff sleeps instead of only waiting them out."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(seconds)


def terminate(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 10
        while conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, "the session did not end"
            time.sleep(0.01)


# -- connect() -------------------------------------------------------------------------------
def test_bad_password_fails_at_once_with_the_users_dsn(restartable: RestartableServer) -> None:
    good = restartable.password_role("pw_user", "right-secret")
    bad = good.replace("right-secret", "wrong-secret")
    sleeps = Sleeps()
    with pytest.raises(ConnectionFailed) as info:
        connect(f"{bad}&{EC_OPTION}", sleep=sleeps)
    assert sleeps.calls == []  # no retry loop for an error retrying cannot fix
    message = str(info.value)
    assert "password authentication failed" in message
    assert "wrong-secret" not in message and "***" in message
    assert "expandcontract.version" not in message
    assert info.value.hint and "password" in info.value.hint
    with connect(good, sleep=sleeps) as conn:  # the right password works
        assert conn.execute("SELECT current_user").fetchone() == ("pw_user",)


def test_unknown_database_fails_at_once_without_ec_options(ec_db: EcDatabase) -> None:
    url = ec_db.url.replace(ec_db.name, "no_such_db_here")
    sleeps = Sleeps()
    with pytest.raises(ConnectionFailed) as info:
        connect(f"{url}?{EC_OPTION}" if "?" not in url else f"{url}&{EC_OPTION}", sleep=sleeps)
    assert sleeps.calls == []
    assert 'database "no_such_db_here" does not exist' in info.value.message
    assert "expandcontract.version" not in str(info.value)
    assert info.value.hint and "database" in info.value.hint


def test_a_dsn_that_is_not_one_is_a_usage_error() -> None:
    with pytest.raises(ECError) as info:
        connect("not a url", sleep=Sleeps())
    assert info.value.exit_code == 2
    assert "not a url" in info.value.message


def test_connect_waits_for_a_restarting_server(restartable: RestartableServer) -> None:
    restartable.stop_pg()
    starter = threading.Timer(1.0, restartable.start_pg)
    starter.start()
    sleeps = Sleeps()
    try:
        with connect(restartable.url, sleep=sleeps) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        starter.join()
    assert sleeps.calls, "it waited for the server rather than failing"


def test_connect_gives_up_after_its_budget(restartable: RestartableServer) -> None:
    restartable.stop_pg()
    try:
        with pytest.raises(ConnectionFailed) as info:
            connect(restartable.url, retry_s=0.5, sleep=Sleeps())
    finally:
        restartable.start_pg()
    assert "cannot connect to" in info.value.message
    assert "0.5s" in info.value.message
    assert info.value.hint and "server" in info.value.hint


# -- SafeRunner ------------------------------------------------------------------------------
def test_bookkeeping_survives_a_terminated_session(ec_db: EcDatabase) -> None:
    with SafeRunner(ec_db.url, sink=None) as runner:
        ledger = Ledger(runner)
        ledger.ensure()
        record = ledger.start_migration("m1", base_schema="public", checksum="c")
        terminate(ec_db.url, runner.conn.info.backend_pid)
        assert runner.execute(sql.SQL("SELECT 41 + 1")) == [(42,)]
        terminate(ec_db.url, runner.conn.info.backend_pid)
        with runner.transaction() as conn:
            conn.execute("CREATE TABLE kept (id int)")
        terminate(ec_db.url, runner.conn.info.backend_pid)
        ledger.set_phase(record.id, "expand", "running")
        terminate(ec_db.url, runner.conn.info.backend_pid)
        assert ledger.phases(record.id)["expand"]["status"] == "running"
        terminate(ec_db.url, runner.conn.info.backend_pid)
        assert [m.name for m in ledger.migrations()] == ["m1"]
    with ec_db.connect() as conn:
        assert conn.execute("SELECT to_regclass('kept') IS NOT NULL").fetchone() == (True,)


def test_steps_survive_a_terminated_session(ec_db: EcDatabase) -> None:
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    with SafeRunner(ec_db.url, sink=None) as runner:
        ledger = Ledger(runner)
        ledger.ensure()
        record = ledger.start_migration("m1", base_schema="public", checksum="c")
        terminate(ec_db.url, runner.conn.info.backend_pid)
        # An autocommit step: its skip_if is asked outside a transaction.
        build = Step.of(
            "index t.v", sql.SQL("CREATE INDEX CONCURRENTLY IF NOT EXISTS t_v ON t (v)"),
            creates_index=("public", "t_v"),
        )  # fmt: skip
        ledger.run_step(record.id, "expand", "idx", build)
        terminate(ec_db.url, runner.conn.info.backend_pid)
        add = Step.of("add t.w", sql.SQL("ALTER TABLE t ADD COLUMN w int"))
        assert not ledger.run_step(record.id, "expand", "add", add).skipped
        assert ledger.done_steps(record.id) == {("expand", "idx"), ("expand", "add")}


def test_a_step_survives_a_server_restart_and_commits_once(
    restartable: RestartableServer,
) -> None:
    url = restartable.new_database()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
        conn.execute("CREATE TABLE hits (n int)")
    policy = RetryPolicy(max_total_ms=30_000)
    with SafeRunner(url, policy=policy, sink=None) as runner:
        ledger = Ledger(runner)
        ledger.ensure()
        record = ledger.start_migration("m1", base_schema="public", checksum="c")
        slow = Step.of(
            "slow add",
            sql.SQL("INSERT INTO hits SELECT 1 FROM pg_sleep(1.5)"),
            sql.SQL("ALTER TABLE t ADD COLUMN w int"),
        )
        restarter = restartable.restart_later(0.5, 1.0)
        try:
            result = ledger.run_step(record.id, "expand", "slow", slow)
        finally:
            restarter.join()
        assert result.attempts >= 2  # the first attempt died with the server
        ledger.set_phase(record.id, "expand", "done")
        assert ledger.phases(record.id)["expand"]["status"] == "done"
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM hits").fetchone() == (1,)
        count: Any = conn.execute(
            "SELECT count(*) FROM expandcontract.steps WHERE key = 'slow'"
        ).fetchone()
        assert count == (1,)
