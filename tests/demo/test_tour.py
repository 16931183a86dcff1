"""`ec demo --quick` (the tour) and the demo's notes say only what the run measured or what
the settings are."""

from __future__ import annotations

from expandcontract.backfill import BackfillSettings
from expandcontract.demo import scenario
from expandcontract.demo.tour import BLOCKER_SECONDS, run_tour


def test_the_tour_reports_how_long_the_blocker_held_the_table_as_measured() -> None:
    said: list[str] = []
    summary = run_tour("embedded", say=said.append)
    held_s = summary["blocker_held_s"]
    assert held_s >= BLOCKER_SECONDS  # it let go on a timer, never before
    # The point of lock_timeout, measured in this run: the app never waited the whole hold.
    assert summary["app_query_max_wait_ms"] < held_s * 1000
    (line,) = [s for s in said if "report job held users for" in s]
    assert f"report job held users for {held_s:.2f} s" in line
    assert not [s for s in said if "would have" in s], said  # no unmeasured claims


def test_the_tuning_note_comes_from_the_settings() -> None:
    demo, default = scenario.BACKFILL_TUNING, BackfillSettings()
    note = scenario.TUNING_NOTE
    assert f": {demo.blocking_pause_s:g} s, then {demo.clear_checks} clear check" in note
    assert f"every {demo.check_interval_s:g} s (demo settings" in note
    assert f"by default {default.blocking_pause_s:g} s, then {default.clear_checks} clear" in note
    assert note.endswith(f"every {default.check_interval_s:g} s)")
    other = BackfillSettings(blocking_pause_s=4.5, clear_checks=3, check_interval_s=0.25)
    assert scenario.tuning_note(demo, other).endswith("4.5 s, then 3 clear checks every 0.25 s)")
