"""The health-gated switch through the library API: a probe that flips during the watch
switches back on its own (and both app versions keep working through it), N-1 failures do not,
an unhealthy probe prevents the switch, Ctrl-C leaves the new version current, and the watch
holds the run lock so `ec complete` cannot interleave."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from expandcontract.engine import health_gate, versions
from expandcontract.engine.health_gate import (
    SwitchedBack,
    UnhealthyBeforeSwitch,
    WatchInterrupted,
    WatchLockLost,
)
from expandcontract.errors import ECError, LedgerBusy
from expandcontract.health import CommandProbe, HealthGate, ProbeResult, UrlProbe
from expandcontract.ledger import ExclusiveRun, Ledger
from expandcontract.ledger.lock import LOST_HINT, LOST_MESSAGE, RunLockLost
from expandcontract.observe import Event
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import terminate_lock_session
from tests.health.conftest import (
    NEW_SCHEMA,
    OK_ANSWER,
    RawServer,
    StatusServer,
    current_schema,
    engine,
    migration,
)

Serve = Callable[[Callable[[socket.socket, int], None]], RawServer]


def command_gate(flag: Path, failures: int = 3) -> HealthGate:
    return HealthGate(CommandProbe(f"test -f {flag}"), interval_s=0.02, failures=failures)


def watch_checks(events: list[Event]) -> list[Event]:
    return [e for e in events if e["event"] == "health" and e["stage"] == "watch"]


def test_a_watch_that_passes_keeps_the_new_version_and_records_it(
    expanded: EcDatabase, flag: Path
) -> None:
    events: list[Event] = []
    eng = engine(expanded.url, events.append)
    data = eng.switch(health=command_gate(flag), watch_s=0.2)
    assert data["current_schema"] == NEW_SCHEMA
    assert data["health"]["outcome"] == "passed" and data["health"]["checks"] >= 1
    checks = watch_checks(events)
    assert len(checks) == data["health"]["checks"] and all(c["healthy"] for c in checks)
    assert [e["to"] for e in events if e["event"] == "switch"] == ["new"]
    status = eng.status()
    assert status["current_schema"] == NEW_SCHEMA
    assert status["health"]["outcome"] == "passed"
    assert status["health"]["target"] == f"test -f {flag}"


def test_a_probe_that_flips_switches_back_while_both_versions_keep_working(
    expanded: EcDatabase, flag: Path
) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []
    writes = {"old": 0, "new": 0}

    def app(version: str, schema: str, column: str, first_id: int) -> None:
        try:
            with psycopg.connect(expanded.url, autocommit=True) as conn:
                conn.execute(f"SET search_path = {schema}, public")
                key = first_id
                while not stop.is_set() or writes[version] < 5:
                    conn.execute(
                        f"INSERT INTO users (id, {column}, nickname) VALUES (%s, 'w@x', 'w')",
                        (key,),
                    )
                    row = conn.execute(f"SELECT {column} FROM users WHERE id = %s", (key,))
                    assert row.fetchone() == ("w@x",)
                    writes[version] += 1
                    key += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=app, args=("old", "public", "email", 10_000)),
        threading.Thread(target=app, args=("new", NEW_SCHEMA, "email_address", 20_000)),
    ]
    events: list[Event] = []

    def observer(event: Event) -> None:
        events.append(event)
        if event["event"] == "health" and event["stage"] == "watch" and event["check"] == 2:
            flag.unlink()  # healthy twice, then failing from the third check on

    eng = engine(expanded.url, observer)
    for t in threads:
        t.start()
    try:
        with pytest.raises(SwitchedBack) as raised:
            eng.switch(health=command_gate(flag, failures=3), watch_s=60)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    assert writes["old"] >= 5 and writes["new"] >= 5
    message = raised.value.message
    assert "switched back to the old version automatically" in message
    assert f"command test -f {flag}" in message and "failed 3 consecutive check(s)" in message
    assert [c["healthy"] for c in watch_checks(events)] == [True, True, False, False, False]
    assert [e["to"] for e in events if e["event"] == "switch"] == ["new", "old"]
    status = eng.status()
    assert status["current_schema"] == "public"
    assert status["health"]["outcome"] == "switched_back"
    assert status["health"]["consecutive_failures"] == 3
    assert status["health"]["last"]["status"] == 1
    [migration] = [m for m in status["migrations"] if m["active"]]
    switch = migration["phases"]["switch"]
    assert switch["status"] == "failed" and "switched back automatically" in switch["error"]


def test_an_http_probe_that_flips_to_503_switches_back(
    expanded: EcDatabase, status_server: StatusServer
) -> None:
    def observer(event: Event) -> None:
        if event["event"] == "health" and event["stage"] == "watch" and event["check"] == 1:
            status_server.code = 503

    eng = engine(expanded.url, observer)
    gate = HealthGate(UrlProbe(status_server.url), interval_s=0.02, failures=2)
    with pytest.raises(SwitchedBack) as raised:
        eng.switch(health=gate, watch_s=60)
    assert "HTTP 503" in raised.value.message
    verdict = eng.status()["health"]
    assert verdict["outcome"] == "switched_back" and verdict["last"]["status"] == 503
    assert verdict["last"]["output"] == "status 503"
    assert current_schema(eng) == "public"


def test_fewer_failures_than_the_limit_then_recovery_do_not_switch_back(
    expanded: EcDatabase, flag: Path
) -> None:
    events: list[Event] = []

    def observer(event: Event) -> None:
        events.append(event)
        if event["event"] != "health":
            return
        if event["stage"] == "before":
            flag.unlink()  # failing from the first check of the watch on
        elif event["stage"] == "watch" and event["failures"] == 2:  # one short: recover
            flag.touch()

    eng = engine(expanded.url, observer)
    # The time is up at once; a watch that is failing then goes on until the probe recovers
    # or fails the allowed checks: the number of checks is the script's, not the clock's.
    data = eng.switch(health=command_gate(flag, failures=3), watch_s=0.001)
    assert data["health"]["outcome"] == "passed"
    assert [c["healthy"] for c in watch_checks(events)] == [False, False, True]
    assert [c["failures"] for c in watch_checks(events)] == [1, 2, 0]
    assert current_schema(eng) == NEW_SCHEMA


def test_an_http_probe_answering_garbage_counts_as_failing_and_switches_back(
    expanded: EcDatabase, raw_server: Serve
) -> None:
    def answer(conn: socket.socket, hit: int) -> None:
        # Healthy before the switch and for one check, then the port speaks garbage.
        conn.sendall(OK_ANSWER if hit <= 2 else b"garbage\r\n\r\n")

    server = raw_server(answer)
    eng = engine(expanded.url)
    gate = HealthGate(UrlProbe(server.url), interval_s=0.01, failures=2)
    with pytest.raises(SwitchedBack) as raised:
        eng.switch(health=gate, watch_s=60)
    assert "BadStatusLine" in raised.value.message
    verdict = eng.status()["health"]
    assert verdict["outcome"] == "switched_back" and verdict["checks"] == 3
    assert current_schema(eng) == "public"


def test_the_watch_takes_its_lock_again_when_only_its_session_ended(
    expanded: EcDatabase, flag: Path
) -> None:
    seen: list[Any] = []

    def observer(event: Event) -> None:
        if event["event"] != "health" or event["stage"] != "watch":
            return
        if event["check"] == 1:
            seen.append(terminate_lock_session(expanded.url, "ec switch --watch"))
        elif event["check"] == 2:  # the watch took the lock back before this check
            try:
                engine(expanded.url).complete()
                seen.append("completed during the watch")
            except LedgerBusy as exc:
                seen.append(exc)
            flag.unlink()  # then the probe fails: the switch back needs the lock too

    eng = engine(expanded.url, observer)
    with pytest.raises(SwitchedBack):
        eng.switch(health=command_gate(flag, failures=1), watch_s=60)
    ended, busy = seen
    assert ended == 1
    assert isinstance(busy, LedgerBusy) and "ec switch --watch" in busy.message
    assert current_schema(eng) == "public"
    assert eng.status()["health"]["outcome"] == "switched_back"


def test_the_watch_stops_when_another_run_took_its_lock(expanded: EcDatabase, flag: Path) -> None:
    events: list[Event] = []
    with contextlib.ExitStack() as other_run:

        def observer(event: Event) -> None:
            events.append(event)
            if event["event"] == "health" and event.get("check") == 1:
                terminate_lock_session(expanded.url, "ec switch --watch")
                other_run.enter_context(ExclusiveRun(expanded.url, "expandcontract", "ec other"))
                flag.unlink()  # failing now: still, nothing may be switched back

        eng = engine(expanded.url, observer)
        with pytest.raises(WatchLockLost) as raised:
            eng.switch(health=command_gate(flag, failures=1), watch_s=60)
    assert raised.value.exit_code == 1
    message = raised.value.message
    assert "the health watch stopped: lost ec's run lock" in message
    assert "another ec run may own the database now" in message
    assert "nothing was switched back: the new version stays current" in message
    assert len(watch_checks(events)) == 1  # stopped before its next check
    assert [e["to"] for e in events if e["event"] == "switch"] == ["new"]
    status = eng.status()
    assert status["current_schema"] == NEW_SCHEMA
    assert status["health"]["outcome"] == "watching"  # the trace of a watch that did not end


def test_a_watch_leaves_a_trace_while_it_runs_and_a_restart_clears_the_verdict(
    expanded: EcDatabase, flag: Path
) -> None:
    during: list[Any] = []

    def observer(event: Event) -> None:
        if event["event"] == "health" and event["stage"] == "watch" and event["check"] == 1:
            during.append(engine(expanded.url).status()["health"])

    eng = engine(expanded.url, observer)
    eng.switch(health=command_gate(flag), watch_s=0.001)
    [watching] = during
    assert watching["outcome"] == "watching" and watching["checks"] == 0
    assert eng.status()["health"]["outcome"] == "passed"
    eng.switch(back=True)
    eng.rollback()
    again = eng.apply(migration())  # the same migration id, started afresh
    assert again["phases"]["backfill"]["status"] == "done"
    assert eng.status()["health"] is None


def test_unhealthy_before_the_switch_switches_nothing(expanded: EcDatabase, flag: Path) -> None:
    flag.unlink()
    events: list[Event] = []
    eng = engine(expanded.url, events.append)
    with pytest.raises(UnhealthyBeforeSwitch) as raised:
        eng.switch(health=command_gate(flag), watch_s=5)
    assert "fails before the switch: exit 1" in raised.value.message
    assert "not switched" in raised.value.message
    assert not [e for e in events if e["event"] == "switch"]
    assert not watch_checks(events)
    status = eng.status()
    assert status["current_schema"] == "public"
    assert status["health"]["outcome"] == "not_switched"
    [migration] = [m for m in status["migrations"] if m["active"]]
    assert "switch" not in migration["phases"]


class InterruptedProbe:
    """Healthy once, then the user presses Ctrl-C while it runs."""

    kind = "command"
    target = "interrupted"

    def __init__(self) -> None:
        self.calls = 0

    def check(self) -> ProbeResult:
        self.calls += 1
        if self.calls > 2:  # the check before the switch and the first watch check pass
            raise KeyboardInterrupt
        return ProbeResult(True, "exit 0", "", 0)


def test_ctrl_c_during_the_watch_leaves_the_new_version_current(expanded: EcDatabase) -> None:
    eng = engine(expanded.url)
    with pytest.raises(WatchInterrupted) as raised:
        eng.switch(health=HealthGate(InterruptedProbe(), interval_s=0.01), watch_s=60)
    assert raised.value.exit_code == 130
    assert "the new version stays current" in raised.value.message
    assert raised.value.hint is not None and "ec switch --back" in raised.value.hint
    status = eng.status()
    assert status["current_schema"] == NEW_SCHEMA
    assert status["health"]["outcome"] == "interrupted" and status["health"]["checks"] == 1


def test_the_watch_holds_the_run_lock_so_complete_waits_for_the_verdict(
    expanded: EcDatabase, flag: Path
) -> None:
    attempts: list[Any] = []

    def observer(event: Event) -> None:
        if event["event"] == "health" and event["stage"] == "watch" and event["check"] == 1:
            try:
                engine(expanded.url).complete()
                attempts.append("completed")
            except LedgerBusy as exc:
                attempts.append(exc)

    eng = engine(expanded.url, observer)
    eng.switch(health=command_gate(flag), watch_s=0.1)
    [busy] = attempts
    assert isinstance(busy, LedgerBusy) and "ec switch --watch" in busy.message
    # The verdict is in: contracting works now.
    done = engine(expanded.url).complete()
    assert done["active"] is False and done["current_schema"] == NEW_SCHEMA


def test_a_switch_back_that_fails_says_the_new_version_is_still_current(
    expanded: EcDatabase, flag: Path
) -> None:
    eng = engine(expanded.url)

    def lock_lost() -> None:
        raise RunLockLost(LOST_MESSAGE, LOST_HINT)

    with eng._exclusive("ec switch --watch") as runner:
        ledger = Ledger(runner, eng.settings.ledger_schema)
        record, _ = eng.active(ledger)

        def switch() -> None:
            versions.switch(runner, ledger, record, back=False)
            flag.unlink()  # unhealthy right after the switch

        with pytest.raises(ECError) as raised:
            health_gate.switch_watched(
                runner, ledger, record, command_gate(flag, failures=1), 60,
                switch=switch, switch_back=lock_lost,
            )  # fmt: skip
    assert "switching back failed: lost ec's run lock" in raised.value.message
    assert "the new version is still current" in raised.value.message
    assert raised.value.hint == "make the old version current with `ec switch --back`"
    assert current_schema(eng) == NEW_SCHEMA
