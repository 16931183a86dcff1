"""The health-gated switch through the library API: a probe that flips during the watch
switches back on its own (and both app versions keep working through it), N-1 failures do not,
an unhealthy probe prevents the switch, Ctrl-C leaves the new version current, and the watch
holds the run lock so `ec complete` cannot interleave."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from expandcontract.engine import health_gate, versions
from expandcontract.engine.health_gate import SwitchedBack, UnhealthyBeforeSwitch, WatchInterrupted
from expandcontract.errors import ECError, LedgerBusy
from expandcontract.health import CommandProbe, HealthGate, ProbeResult, UrlProbe
from expandcontract.ledger import Ledger
from expandcontract.ledger.lock import LOST_HINT, LOST_MESSAGE, RunLockLost
from expandcontract.observe import Event
from expandcontract.pytest_plugin import EcDatabase
from tests.health.conftest import NEW_SCHEMA, StatusServer, current_schema, engine


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
        if event["event"] != "health" or event["stage"] != "watch":
            return
        if event["check"] == 1:
            flag.unlink()
        elif event["failures"] == 2:  # one short of the limit: recover
            flag.touch()

    eng = engine(expanded.url, observer)
    data = eng.switch(health=command_gate(flag, failures=3), watch_s=1.5)
    assert data["health"]["outcome"] == "passed"
    healthy = [c["healthy"] for c in watch_checks(events)]
    assert healthy[:4] == [True, False, False, True] and all(healthy[3:])
    assert max(c["failures"] for c in watch_checks(events)) == 2
    assert current_schema(eng) == NEW_SCHEMA


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
