"""`apply(..., health=...)`: the backfill pauses while the probe fails and resumes when it
recovers; with on_failure="rollback" the probe's consecutive failures stop the backfill and the
migration is rolled back, the old version intact."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from expandcontract.backfill import BackfillSettings, backfill_status
from expandcontract.backfill.throttles import HealthCommand
from expandcontract.backfill.throttles.base import ProbeContext
from expandcontract.backfill.throttles.health import HealthGaveUp, HealthPolicy, Tracking
from expandcontract.engine.api import Engine, MigrationError
from expandcontract.engine.backfill import table_backfill
from expandcontract.errors import ConfigError
from expandcontract.health import CommandProbe, HealthGate, UrlProbe
from expandcontract.observe import Event
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import schema_shape
from tests.health.conftest import FAST, ROWS, StatusServer, engine, migration


def gate(flag: Path, failures: int = 3, interval_s: float = 0.02) -> HealthGate:
    return HealthGate(CommandProbe(f"test -f {flag}"), interval_s=interval_s, failures=failures)


def batches(events: list[Event]) -> list[Event]:
    return [e for e in events if e["event"] == "backfill" and e["data"]["event"] == "batch"]


def test_a_failing_probe_mid_backfill_rolls_the_migration_back(
    users: EcDatabase, flag: Path
) -> None:
    with users.connect() as conn:
        before = schema_shape(conn)
        rows_before = conn.execute("SELECT * FROM users ORDER BY id").fetchall()
    events: list[Event] = []

    def observer(event: Event) -> None:
        events.append(event)
        if len(batches(events)) == 2 and flag.exists():
            flag.unlink()  # the app turns unhealthy after the second batch

    eng = engine(users.url, observer)
    with pytest.raises(MigrationError) as raised:
        eng.apply(migration(), on_failure="rollback", health=gate(flag, 3, interval_s=0.001))
    message = raised.value.message
    assert "failed 3 consecutive check(s) during the backfill" in message
    assert f"command test -f {flag}" in message and "rolled back automatically" in message
    # Stopped part-way: a batch may still run on the last healthy reading (one per interval).
    assert 2 <= len(batches(events)) < ROWS // 50
    backfill_checks = [e for e in events if e["event"] == "health" and e["stage"] == "backfill"]
    assert [c["failures"] for c in backfill_checks if not c["healthy"]] == [1, 2, 3]
    with users.connect() as conn:
        assert schema_shape(conn) == before
        assert conn.execute("SELECT * FROM users ORDER BY id").fetchall() == rows_before
    status = eng.status()
    assert status["migration"] is None and status["current_schema"] == "public"
    [backfill] = backfill_status(users.url)
    assert backfill["status"] == "failed" and "consecutive check(s)" in backfill["error"]


def test_without_rollback_the_backfill_pauses_and_resumes_when_the_probe_recovers(
    users: EcDatabase, flag: Path
) -> None:
    events: list[Event] = []

    def observer(event: Event) -> None:
        events.append(event)
        if batches([event]) and len(batches(events)) == 1:
            flag.unlink()  # unhealthy after the first batch
        if event["event"] == "health" and event["failures"] == 4:
            flag.touch()  # more failures than the gate allows, and it did not give up

    eng = engine(users.url, observer)
    data = eng.apply(migration(), health=gate(flag, failures=3))
    assert data["phases"]["backfill"]["status"] == "done"
    kinds = [e["data"]["event"] for e in events if e["event"] == "backfill"]
    assert "throttle" in kinds and kinds.index("throttle") < kinds.index("resume")
    throttle = next(e["data"] for e in events if e.get("data", {}).get("event") == "throttle")
    assert throttle["reasons"] == ["health"] and "health command exited 1" in throttle["detail"]
    [backfill] = backfill_status(users.url)
    assert backfill["verified"] and backfill["rows_updated"] == ROWS
    with users.connect() as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE nickname IS NULL").fetchone() == (
            ROWS // 3,
        )
        new = conn.execute("SELECT count(*) FROM public_h1.users WHERE nickname = 'anon'")
        assert new.fetchone() == (ROWS // 3,)


def test_a_rolling_back_gate_needs_one_worker_and_a_refusal_rolls_nothing_back(
    users: EcDatabase, flag: Path
) -> None:
    settings = engine(users.url).settings
    two = dataclasses.replace(FAST, workers=2)
    eng = Engine(users.url, settings, backfill=table_backfill(users.url, settings, tuning=two))
    with pytest.raises(ConfigError) as raised:
        eng.apply(migration(), on_failure="rollback", health=gate(flag))
    assert "needs a backfill with one worker" in raised.value.message
    assert "rolled back" not in raised.value.message
    # A refused setting is not a failing migration: the good expand stays, apply resumes.
    status = eng.status()
    [active] = [m for m in status["migrations"] if m["active"]]
    assert active["phases"]["expand"]["status"] == "done"
    assert engine(users.url).apply(migration())["phases"]["backfill"]["status"] == "done"


def test_apply_refuses_a_probe_with_a_phase_it_would_not_watch(
    users: EcDatabase, flag: Path
) -> None:
    for phase in ("switch", "contract"):
        with pytest.raises(ConfigError) as raised:
            engine(users.url).apply(migration(), through=phase, health=gate(flag))
        assert "does not watch the switch" in raised.value.message
        assert raised.value.hint is not None and "ec switch --health-" in raised.value.hint
    with users.connect() as conn:  # nothing ran: not even the ledger was created
        assert conn.execute("SELECT to_regnamespace('expandcontract')").fetchone() == (None,)


def probe_ctx() -> Any:
    return ProbeContext(conn=None, table_oid=0, application_name="t")  # type: ignore[arg-type]


def test_the_throttle_probes_once_per_interval_and_gives_up_at_the_limit(flag: Path) -> None:
    flag.unlink()
    clock = [0.0]
    policy = HealthPolicy(interval_s=5.0, give_up_after=2)
    signal = HealthCommand(f"test -f {flag}", tracking=Tracking(policy))
    signal.tracking.clock = lambda: clock[0]
    assert signal.read(probe_ctx()).breached  # failure 1
    flag.touch()
    clock[0] = 4.9
    assert signal.read(probe_ctx()).breached, "within the interval the last reading stands"
    flag.unlink()
    clock[0] = 5.0
    with pytest.raises(HealthGaveUp, match="failed 2 consecutive check"):
        signal.read(probe_ctx())


def test_without_a_policy_the_throttle_only_pauses(flag: Path) -> None:
    flag.unlink()
    signal = HealthCommand(f"test -f {flag}")
    for _ in range(5):
        assert signal.read(probe_ctx()).breached
    flag.touch()
    assert not signal.read(probe_ctx()).breached


def test_a_policy_must_allow_at_least_one_failure() -> None:
    with pytest.raises(ValueError):
        HealthPolicy(give_up_after=0)
    with pytest.raises(ConfigError):
        HealthGate(CommandProbe("true"), failures=0)
    assert BackfillSettings().health_command is None  # the standalone backfill is untouched


def test_an_http_probe_answering_503_rolls_the_migration_back(
    users: EcDatabase, status_server: StatusServer
) -> None:
    events: list[Event] = []

    def observer(event: Event) -> None:
        events.append(event)
        if batches([event]):
            status_server.code = 503  # unhealthy from the first batch on

    eng = engine(users.url, observer)
    url_gate = HealthGate(UrlProbe(status_server.url), interval_s=0.001, failures=2)
    with pytest.raises(MigrationError) as raised:
        eng.apply(migration(), on_failure="rollback", health=url_gate)
    assert "failed 2 consecutive check(s) during the backfill: HTTP 503" in raised.value.message
    assert eng.status()["migration"] is None
    checks = [e for e in events if e["event"] == "health" and e["stage"] == "backfill"]
    assert checks[0]["healthy"] and [c["status"] for c in checks[-2:]] == [503, 503]
