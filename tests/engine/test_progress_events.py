"""The engine's progress event stream (expandcontract/observe.py): every phase reports what it
does, in order, on a real apply; a resumed run says so; a failing observer fails nothing."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from expandcontract.engine.api import Engine
from expandcontract.errors import ECError
from expandcontract.observe import emit, fanout, observing
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import engine, migration

CHANGE = (
    {"alter_column": {"table": "users", "column": "amount", "type": "bigint",
                      "up": "amount::bigint", "down": "amount::integer"}},
    {"create_index": {"name": "users_nickname_idx", "table": "users", "columns": ["nickname"]}},
)  # fmt: skip


def observed(ec_db: EcDatabase, **kw: Any) -> tuple[Engine, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    return dataclasses.replace(engine(ec_db.url), observer=events.append, **kw), events


def kinds(events: list[dict[str, Any]], kind: str, **match: Any) -> list[dict[str, Any]]:
    wanted = match.items()
    return [e for e in events if e["event"] == kind and all(e.get(k) == v for k, v in wanted)]


def test_a_full_migration_reports_every_phase_step_backfill_and_switch_in_order(
    seeded: EcDatabase,
) -> None:
    eng, events = observed(seeded)
    eng.apply(migration("progress", *CHANGE), through="contract")

    assert all(json.loads(json.dumps(e)) == e for e in events)  # JSON-ready as they are
    assert all(isinstance(e["ts"], float) for e in events)
    phases = [(e["phase"], e["status"]) for e in kinds(events, "phase")]
    assert phases == [
        ("expand", "started"), ("expand", "done"),
        ("backfill", "started"), ("backfill", "done"),
        ("contract", "started"), ("contract", "done"),
    ]  # fmt: skip
    assert kinds(events, "migration")[0]["status"] == "started"
    assert kinds(events, "migration")[-1] == {**kinds(events, "migration")[-1], "status": "done"}

    expand_steps = kinds(events, "step", phase="expand")
    started = kinds(events, "step", phase="expand", status="started")
    done = kinds(events, "step", phase="expand", status="done")
    assert len(started) == len(done) == started[0]["of"] > 1
    assert [e["number"] for e in done] == list(range(1, len(done) + 1))
    assert all(e["duration_ms"] >= 0 and e["attempts"] >= 1 for e in done)
    assert any("CONCURRENTLY" in e["description"] or "index" in e["description"] for e in done)
    assert expand_steps[0]["lock"]

    batches = [e for e in kinds(events, "backfill", table="users") if e["data"]["event"] == "batch"]
    assert sum(e["data"]["rows_updated"] for e in batches) >= 300  # every seeded row converted
    switches = kinds(events, "switch")
    assert switches and switches[-1]["to"] == "new"
    order = [e["event"] for e in events]
    assert order.index("backfill") < order.index("switch")


def test_a_resumed_apply_says_resumed_and_reports_finished_steps_as_skipped(
    seeded: EcDatabase,
) -> None:
    def crash_at_third(phase: str, planned: Any) -> None:
        if phase == "expand" and crash_at_third.seen == 2:  # type: ignore[attr-defined]
            raise ECError("simulated crash")
        crash_at_third.seen += 1  # type: ignore[attr-defined]

    crash_at_third.seen = 0  # type: ignore[attr-defined]
    first, events = observed(seeded, before_step=crash_at_third)
    with pytest.raises(ECError):
        first.apply(migration("progress", *CHANGE))
    assert kinds(events, "phase", phase="expand", status="failed")
    assert kinds(events, "step", status="failed")

    again, events = observed(seeded)
    again.apply(migration("progress", *CHANGE))
    assert kinds(events, "migration")[0]["status"] == "resumed"
    assert len(kinds(events, "step", phase="expand", status="skipped")) == 2
    assert kinds(events, "phase", phase="backfill", status="done")


def test_rollback_reports_the_switch_back_and_its_steps(seeded: EcDatabase) -> None:
    engine(seeded.url).apply(migration("progress", *CHANGE), through="switch")
    eng, events = observed(seeded)
    eng.switch()  # already current: nothing changes, nothing is reported
    assert not kinds(events, "switch")
    eng.rollback()
    assert [e["to"] for e in kinds(events, "switch")] == ["old"]
    assert kinds(events, "phase", phase="rollback", status="done")
    assert kinds(events, "migration")[-1]["status"] == "rolled_back"


def test_a_failing_observer_never_fails_the_migration(seeded: EcDatabase) -> None:
    calls: list[str] = []

    def broken(event: dict[str, Any]) -> None:
        calls.append(event["event"])
        raise RuntimeError("display crashed")

    eng = dataclasses.replace(engine(seeded.url), observer=broken)
    eng.apply(migration("progress", *CHANGE), through="contract")
    assert "step" in calls and "backfill" in calls
    with seeded.connect() as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (300,)
        kind = conn.execute(
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_name = 'users' AND column_name = 'amount'"
        ).fetchone()
        assert kind == ("bigint",)


def test_emit_reaches_every_observer_of_a_fanout_and_nothing_outside_observing() -> None:
    seen_a: list[dict[str, Any]] = []
    seen_b: list[dict[str, Any]] = []
    emit("phase", phase="expand")  # no observer: nothing happens, nothing fails
    with observing(fanout(seen_a.append, None, seen_b.append)):
        emit("phase", phase="expand", status="started")
    emit("phase", phase="expand", status="done")
    assert [e["status"] for e in seen_a] == [e["status"] for e in seen_b] == ["started"]
