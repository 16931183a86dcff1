"""One ec run per database: a second concurrent run is refused at once; a run whose lock
session ended notices before its next step; a dead run's phase is shown as interrupted."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import psycopg
import pytest
from psycopg import sql

from expandcontract.errors import LedgerBusy
from expandcontract.ledger import ExclusiveRun, Ledger
from expandcontract.ledger.lock import RunLockLost, lock_key, lock_still_held
from expandcontract.pytest_plugin import EcDatabase
from expandcontract.runner import SafeRunner, Step
from tests.runner.restartable import RestartableServer


def test_second_runner_is_refused_with_the_holder_named(ec_db: EcDatabase) -> None:
    with ExclusiveRun(ec_db.url, "expandcontract", "ec apply"):
        started = time.monotonic()
        with pytest.raises(LedgerBusy) as info, ExclusiveRun(ec_db.url, "expandcontract", "x"):
            pass
        assert time.monotonic() - started < 5, "refused at once, not after waiting"
        assert "expandcontract: ec apply" in str(info.value)
    # Released on exit: the next run gets it.
    with ExclusiveRun(ec_db.url, "expandcontract", "ec apply"):
        pass


def test_a_run_that_cannot_stamp_the_ledger_frees_the_lock_at_once(ec_db: EcDatabase) -> None:
    """__exit__ does not run when __enter__ fails: a role without write access to the ledger
    must not leave its lock session open until the garbage collector finds it."""
    role = f"ec_no_ledger_writes_{uuid.uuid4().hex[:8]}"
    _with_ledger(ec_db.url)
    with ec_db.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    url = psycopg.conninfo.make_conninfo(ec_db.url, user=role)
    try:
        with (
            pytest.raises(psycopg.errors.InsufficientPrivilege) as refused,
            ExclusiveRun(url, "expandcontract", "ec apply"),
        ):
            pass
        # Kept alive on purpose: the traceback holds the frame that held the connection.
        assert refused.value is not None
        with ExclusiveRun(ec_db.url, "expandcontract", "ec apply"):
            pass  # would be LedgerBusy while the refused run's session stayed open
    finally:
        with ec_db.connect() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (role,),
            )
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_lock_is_per_ledger_schema(ec_db: EcDatabase) -> None:
    with ExclusiveRun(ec_db.url, "expandcontract", "a"), ExclusiveRun(ec_db.url, "other", "b"):
        pass


def test_a_crashed_holder_frees_the_lock(ec_db: EcDatabase) -> None:
    code = (
        "import sys, time\n"
        "from expandcontract.ledger import ExclusiveRun\n"
        "with ExclusiveRun(sys.argv[1], 'expandcontract', 'ec apply'):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, ec_db.url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(LedgerBusy), ExclusiveRun(ec_db.url, "expandcontract", "ec apply"):
            pass
        os.kill(proc.pid, 9)
        proc.wait()
        deadline = time.monotonic() + 10
        while True:  # the server notices the dead client's socket close
            try:
                with ExclusiveRun(ec_db.url, "expandcontract", "ec apply"):
                    break
            except LedgerBusy:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait()


def _terminate(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 10
        while conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, "the session did not end"
            time.sleep(0.01)


def test_check_passes_while_the_lock_is_held(ec_db: EcDatabase) -> None:
    with ExclusiveRun(ec_db.url, "expandcontract", "ec apply") as run:
        run.check()
        classid, objid, pid = run.holder()
        assert (classid, objid) == lock_key("expandcontract")
        with ec_db.connect() as other:
            assert lock_still_held(other, classid, objid, pid)
            assert not lock_still_held(other, classid, objid, other.info.backend_pid)


def test_a_terminated_lock_session_stops_the_run_and_frees_the_database(
    ec_db: EcDatabase,
) -> None:
    with ExclusiveRun(ec_db.url, "expandcontract", "ec apply") as first:
        holder = first.holder()
        _terminate(ec_db.url, holder[2])
        with pytest.raises(RunLockLost) as info:
            first.check()
        assert info.value.message == (
            "lost ec's run lock (its session ended): another ec run may have started; "
            "stopped before the next step"
        )
        assert info.value.hint and "ec status" in info.value.hint
        with ec_db.connect() as other:
            assert not lock_still_held(other, *holder)
        # The lock is free for another run, which the first one must now stay out of.
        with ExclusiveRun(ec_db.url, "expandcontract", "ec rollback") as second:
            second.check()
            with pytest.raises(RunLockLost):
                first.check()


def _with_ledger(url: str) -> None:
    with SafeRunner(url, sink=None) as runner:
        Ledger(runner).ensure()


def test_without_a_ledger_a_lost_lock_is_never_taken_again(
    restartable: RestartableServer,
) -> None:
    """No ledger, no run generation: nothing proves no other run came and went."""
    url = restartable.new_database()
    with ExclusiveRun(url, "expandcontract", "ec apply") as run:
        restartable.restart(0.2)
        with pytest.raises(RunLockLost):
            run.check()
        with pytest.raises(RunLockLost):  # still lost: never re-acquired behind our back
            run.check()
        with ExclusiveRun(url, "expandcontract", "ec rollback"):
            pass


def test_after_a_server_restart_the_run_takes_its_lock_again(
    restartable: RestartableServer,
) -> None:
    url = restartable.new_database()
    _with_ledger(url)
    with ExclusiveRun(url, "expandcontract", "ec apply") as run:
        before = run.holder()
        restartable.restart(0.2)
        run.check()  # no other run stamped the ledger meanwhile: the lock is ours again
        assert run.holder()[2] != before[2]
        with pytest.raises(LedgerBusy):
            ExclusiveRun(url, "expandcontract", "ec rollback").__enter__()


def test_a_lost_lock_another_run_held_meanwhile_is_not_taken_again(ec_db: EcDatabase) -> None:
    _with_ledger(ec_db.url)
    with ExclusiveRun(ec_db.url, "expandcontract", "ec apply") as first:
        generation = first.generation
        _terminate(ec_db.url, first.holder()[2])
        with ExclusiveRun(ec_db.url, "expandcontract", "ec rollback") as second:
            assert second.generation == (generation or 0) + 1
        # The other run came and went: the lock is free, but not ours to take.
        with pytest.raises(RunLockLost):
            first.check()
        with ExclusiveRun(ec_db.url, "expandcontract", "ec complete"):
            pass


def test_status_shows_a_running_phase_of_a_dead_run_as_interrupted(ec_db: EcDatabase) -> None:
    code = (
        "import sys, time\n"
        "from expandcontract.ledger import ExclusiveRun, Ledger\n"
        "from expandcontract.runner import SafeRunner\n"
        "with ExclusiveRun(sys.argv[1], 'expandcontract', 'ec apply'):\n"
        "    ledger = Ledger(SafeRunner(sys.argv[1], sink=None))\n"
        "    ledger.ensure()\n"
        "    m = ledger.start_migration('m1', base_schema='public', checksum='c')\n"
        "    ledger.set_phase(m.id, 'expand', 'running')\n"
        "    print('running', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, ec_db.url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "running"
        ledger = Ledger(SafeRunner(ec_db.url, sink=None))
        (alive,) = ledger.status()["migrations"]
        assert alive["phases"]["expand"]["status"] == "running"
        os.kill(proc.pid, 9)
        proc.wait()
        deadline = time.monotonic() + 10
        while True:  # until the server notices the dead client's socket
            (gone,) = ledger.status()["migrations"]
            if gone["phases"]["expand"]["status"] != "running" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        expand = gone["phases"]["expand"]
        assert expand["status"] == "interrupted"
        assert "re-run `ec apply" in expand["hint"]
        assert ledger.phases(gone["id"])["expand"]["status"] == "running"  # the record itself
    finally:
        proc.kill()
        proc.wait()


def test_a_runner_guarded_by_the_lock_runs_no_step_once_it_is_lost(ec_db: EcDatabase) -> None:
    create = "CREATE TABLE {} (id int)"
    with (
        ExclusiveRun(ec_db.url, "expandcontract", "ec apply") as run,
        SafeRunner(ec_db.url, sink=None, guard=run.check) as runner,
    ):
        runner.run(Step.of("t1", sql.SQL(create).format(sql.Identifier("t1"))))
        _terminate(ec_db.url, run.holder()[2])
        with pytest.raises(RunLockLost):
            runner.run(Step.of("t2", sql.SQL(create).format(sql.Identifier("t2"))))
    with ec_db.connect() as conn:
        found = conn.execute("SELECT to_regclass('t1') IS NOT NULL, to_regclass('t2') IS NULL")
        assert found.fetchone() == (True, True)


def test_a_step_cut_by_a_server_restart_is_retried_once_the_lock_is_ours_again(
    restartable: RestartableServer,
) -> None:
    url = restartable.new_database()
    _with_ledger(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE hits (n int)")
    slow = Step.of("slow", sql.SQL("INSERT INTO hits SELECT 1 FROM pg_sleep(1.5)"))
    with (
        ExclusiveRun(url, "expandcontract", "ec apply") as run,
        SafeRunner(url, sink=None, guard=run.check) as runner,
    ):
        restarter = restartable.restart_later(0.5, 0.5)
        try:
            runner.run(slow)
        finally:
            restarter.join()
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM hits").fetchone() == (1,)


def test_a_step_cut_by_a_server_restart_is_not_retried_without_the_lock(
    restartable: RestartableServer,
) -> None:
    url = restartable.new_database()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE hits (n int)")
    slow = Step.of("slow", sql.SQL("INSERT INTO hits SELECT 1 FROM pg_sleep(1.5)"))
    with (
        ExclusiveRun(url, "expandcontract", "ec apply") as run,
        SafeRunner(url, sink=None, guard=run.check) as runner,
    ):
        restarter = restartable.restart_later(0.5, 0.5)
        try:
            with pytest.raises(RunLockLost):
                runner.run(slow)
        finally:
            restarter.join()
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM hits").fetchone() == (0,)


def test_taking_the_lock_back_outlasts_a_server_that_keeps_dropping_sessions(
    ec_db: EcDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every new session dies at once (a server bouncing): check() keeps trying within its
    budget, then says the lock is lost - never a raw connection error."""
    import expandcontract.ledger.lock as lock

    _with_ledger(ec_db.url)
    with (
        ec_db.connect() as killer,
        ExclusiveRun(ec_db.url, "expandcontract", "ec apply", retry_s=2) as run,
    ):
        _terminate(ec_db.url, run.holder()[2])
        real = lock.connect

        def dying(*args: object, **kwargs: object) -> psycopg.Connection[tuple[object, ...]]:
            conn = real(*args, **kwargs)  # type: ignore[arg-type]
            killer.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
            time.sleep(0.1)
            return conn

        monkeypatch.setattr(lock, "connect", dying)
        with pytest.raises(RunLockLost):
            run.check()
