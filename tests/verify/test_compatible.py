"""Correct migrations pass at every phase, for both versions, on embedded and container."""

from __future__ import annotations

from typing import Any

import pytest

from expandcontract.verify.api import verify_migration
from expandcontract.verify.phases import (
    AFTER_CONTRACT,
    AFTER_EXPAND,
    AFTER_SWITCH,
    AFTER_SWITCH_BACK,
    BEFORE,
    DURING_BACKFILL,
    DURING_CONTRACT,
    DURING_EXPAND,
)
from tests.verify.apps import shop_v1, shop_v2
from tests.verify.conftest import APPS, Verify, details

ALL_PHASES = [BEFORE, DURING_EXPAND, AFTER_EXPAND, DURING_BACKFILL, AFTER_SWITCH,
              AFTER_SWITCH_BACK, DURING_CONTRACT, AFTER_CONTRACT]  # fmt: skip


def assert_full_pass(report: Any) -> None:
    assert report.compatible, report.text()
    assert report.phases == ALL_PHASES
    cells = {(c.phase, c.version, c.kind) for c in report.checks}
    # old until contract, new from expand on, each with static and dynamic checks
    for phase in (BEFORE, AFTER_EXPAND, AFTER_SWITCH, AFTER_SWITCH_BACK):
        assert {(phase, "old", "static"), (phase, "old", "dynamic")} <= cells
    for phase in (AFTER_EXPAND, AFTER_SWITCH, AFTER_SWITCH_BACK, AFTER_CONTRACT):
        assert {(phase, "new", "static"), (phase, "new", "dynamic")} <= cells
    assert (AFTER_CONTRACT, "old", "static") not in cells
    for phase in (AFTER_EXPAND, DURING_BACKFILL, AFTER_SWITCH, AFTER_SWITCH_BACK):
        assert (phase, "new", "invariants") in cells
    assert (DURING_BACKFILL, "old", "dynamic") in cells and (
        DURING_BACKFILL,
        "new",
        "dynamic",
    ) in cells


def test_rename_type_change_not_null_index_and_new_column_pass(verify: Verify) -> None:
    seen: list[str] = []

    def new_check(conn: Any) -> None:
        seen.append(
            conn.exec_driver_sql("SELECT current_setting('expandcontract.version')").scalar()
        )

    report = verify("shop_good", new=shop_v2.Base, new_check=new_check, rows=60)
    assert_full_pass(report)
    assert set(seen) == {"public_shop_good"}
    assert len(seen) == 4  # after expand, switch, switch back, contract
    statements = sum(
        int(c.detail.split()[0]) for c in report.checks if c.kind == "dynamic" and c.ok
    )
    assert statements > 100, details(report.checks)


def test_same_seed_same_verdict_and_json_shape(verify: Verify) -> None:
    first = verify("status_only", seed=7).to_json()
    second = verify("status_only", seed=7).to_json()
    assert first["compatible"] is True and second["compatible"] is True

    def verdicts(report: dict[str, Any]) -> list[tuple[Any, ...]]:
        # workloads running *during* a phase make as many rounds as the phase lasts
        return [
            (c["phase"], c["version"], c["kind"], c["ok"])
            + (() if c["phase"].startswith("during") else (c["detail"],))
            for c in report["checks"]
        ]

    assert verdicts(first) == verdicts(second)
    assert set(first) >= {"compatible", "migration", "checks", "phases", "server", "rows", "seed"}
    assert set(first["checks"][0]) == {"phase", "version", "kind", "ok", "detail", "statement"}


@pytest.mark.container
def test_good_migration_passes_on_the_container_server() -> None:
    report = verify_migration(
        APPS / "shop_good.yaml",
        old=shop_v1.metadata,
        new=shop_v2.Base,
        server="container",
        rows=60,
        rounds=1,
    )
    assert report.meta["server"] == "container"
    assert_full_pass(report)


def test_history_builds_the_base_and_the_old_version_runs_in_its_version_schema(
    verify: Verify,
) -> None:
    from tests.verify.apps import notes

    report = verify("notes_rename", old=notes.v1, new=notes.v2, history=APPS / "notes_history")
    assert_full_pass(report)
    old_static = {c.detail for c in report.checks if c.version == "old" and c.kind == "static"}
    assert old_static == {"schema public_0001_notes matches"}


def test_kept_snapshots_hold_each_phase_for_a_recheck(verify: Verify) -> None:
    report = verify("status_only", keep_snapshots=True)
    snapshots = report.meta["snapshots"]
    assert set(snapshots) == set(ALL_PHASES) - {DURING_EXPAND, DURING_CONTRACT}
    try:
        with verify.server.connect(snapshots[AFTER_EXPAND]) as conn:
            columns = {r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'"
                " AND table_schema = 'public'")}  # fmt: skip
            assert {"status", "_ec_pending"} <= columns
        with verify.server.connect(snapshots[AFTER_CONTRACT]) as conn:
            pending = conn.execute(
                "SELECT count(*) FROM information_schema.columns WHERE column_name = '_ec_pending'"
            ).fetchone()
            assert pending == (0,)
    finally:
        for name in snapshots.values():
            verify.server.drop_database(name)
