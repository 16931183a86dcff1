"""The progress views on synthetic event streams: one line per state change (never one per
batch), periodic numbers, the true final rate, JSON lines, 80-column terminal output."""

from __future__ import annotations

import io
import json

from rich.console import Console

from expandcontract.progress import JsonLinesView, PlainView, TerminalView
from tests.progress.events import backfill, batch, done, migration_run, start


def plain(every_s: float = 5.0) -> tuple[PlainView, io.StringIO]:
    out = io.StringIO()
    return PlainView(Console(file=out, width=80), every_s=every_s), out


def test_plain_output_is_one_line_per_state_change_and_numbers_every_few_seconds() -> None:
    view, out = plain(every_s=5.0)
    with view:
        for event in migration_run(batches=200, rows_per_batch=500, seconds=20.0):
            view(event)
    lines = out.getvalue().splitlines()
    progress = [line for line in lines if "rows/s, ETA" in line]
    # 200 batches over 20 s: a numbers line every 5 s (4), not one per batch.
    assert len(progress) == 4, lines
    assert lines[0] == "migration m: started"
    assert "expand: started (2 steps)" in lines
    assert any(line.startswith("  [1/2] step 1 (3 ms, ACCESS EXCLUSIVE") for line in lines)
    assert "backfill: started (users)" in lines
    assert "backfill public.users: verifying every row (sweep by ctid)" in lines
    assert lines[-1] == "migration m: done"
    assert len(lines) == len(progress) + 11


def test_the_final_rate_is_this_runs_rows_over_its_time_not_the_last_sample() -> None:
    view, out = plain()
    with view:
        for event in migration_run(batches=100, rows_per_batch=1000, seconds=2.0):
            view(event)
    (finished,) = [line for line in out.getvalue().splitlines() if ": done, " in line]
    # 100,000 rows in 2.01 s (the fast verification batch does not count as speed).
    assert "done, 100,000 rows; this run 100,000 rows in 2.0 s (49,751 rows/s)" in finished
    assert finished.endswith("verified")


def test_a_resumed_backfill_counts_earlier_runs_rows_but_rates_only_this_run() -> None:
    view, out = plain(every_s=1.0)
    events = [start(0.0, 200_000, before=118_432)]
    events += [batch(i * 0.5, 10_000) for i in range(1, 9)]  # 80,000 rows in 4 s
    events += [batch(4.2, 1_568), done(4.5, 200_000)]
    with view:
        for event in events:
            view(event)
    lines = out.getvalue().splitlines()
    assert "resuming after 118,432 rows done earlier" in lines[0]
    last_numbers = [line for line in lines if "rows/s, ETA" in line][-1]
    assert "198,432/200,000 rows (99%), 20,000 rows/s" in last_numbers
    assert lines[-1] == (
        "backfill public.users: done, 200,000 rows, 118,432 of them by earlier runs; "
        "this run 81,568 rows in 4.5 s (18,126 rows/s), verified"
    )


def test_a_pause_is_said_once_per_reason_and_a_rate_cap_once() -> None:
    view, out = plain(every_s=100.0)
    throttle = {"event": "throttle", "reasons": ["replica_lag"], "detail": "replica lag 7s > 5s"}
    other = {"event": "throttle", "reasons": ["manual"], "detail": "paused by ec backfill pause"}
    pacing = {"event": "pacing", "rows_per_second": 2000.0, "worker_share": 2000.0}
    events = [start(0.0, 10_000)]
    for i in range(10):  # a capped run: the pacing state is repeated by each worker
        events += [backfill(i, pacing), batch(i + 0.5, 400)]
    events += [backfill(11, throttle)] * 3  # the same pause reported again
    events += [backfill(12, other), backfill(13, {"event": "resume", "paused_s": 2.0})]
    events += [backfill(14, {"event": "resume", "paused_s": 0.0})]  # nothing was paused
    with view:
        for event in events:
            view(event)
    lines = out.getvalue().splitlines()
    assert lines[1:] == [
        "backfill public.users: rate-capped at 2,000 rows/s",
        "backfill public.users: paused: replica lag 7s > 5s",
        "backfill public.users: paused: paused by ec backfill pause",
        "backfill public.users: resumed after 2.0 s",
    ]


def test_json_lines_condense_batches_into_progress_snapshots_and_end_with_the_result() -> None:
    lines: list[str] = []
    view = JsonLinesView(lines.append, every_s=1.0)
    events = migration_run(batches=100, rows_per_batch=100, seconds=5.0)
    with view:
        for event in events:
            view(event)
    view.result({"ok": True, "migration": "m"})
    parsed = [json.loads(line) for line in lines]
    assert not [e for e in parsed if e["event"] == "backfill" and e["data"]["event"] == "batch"]
    progress = [e for e in parsed if e["event"] == "progress"]
    assert 5 <= len(progress) <= 7  # about one a second over 5 s, and the final one
    assert progress[-1]["rows_scanned"] == progress[-1]["rows_total_estimate"] == 10_000
    assert progress[-1]["average_rows_per_second"] > 0 and progress[-1]["eta_s"] == 0
    kinds = [e["event"] for e in parsed]
    assert kinds.count("step") == 4 and kinds.count("phase") == 4
    assert parsed[-1] == {"event": "result", "ok": True, "migration": "m"}


def live_frame(view: TerminalView) -> list[str]:
    """The live part of the display (bars, the running step) as drawn 80 columns wide."""
    console = Console(file=io.StringIO(), width=80, record=True)
    console.print(view.progress.get_renderable())
    return console.export_text().splitlines()


def test_terminal_output_fits_80_columns_with_a_live_bar_per_backfill() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80, record=True)
    long_name = "m-1:public.a_rather_long_table_name_for_customers_and_their_orders"
    view = TerminalView(console, refresh_s=0.0)
    steps = migration_run(batches=5, rows_per_batch=10, seconds=1.0)[:4]
    events = [start(0.0, 2_500_000, name=long_name)]
    events += [batch(i * 0.1, 25_000, name=long_name) for i in range(1, 40)]
    events += [backfill(4.0, {"event": "throttle", "detail": "replica lag 12.5s > 5s"}, long_name)]
    frames = []
    with view:
        for event in steps[:3]:
            view(event)
        assert live_frame(view) == ["[1/2] step 1 ━━━━━━━━━━━━━━ ACCESS EXCLUSIVE"]  # running
        view(steps[3])
        assert live_frame(view) == []
        for event in events:
            view(event)
            frames.append(live_frame(view))
        view(batch(5.0, 25_000, name=long_name))
        frames.append(live_frame(view))
        view(done(6.0, 2_500_000, name=long_name))
        assert live_frame(view) == []  # the bar gives way to the line that says how it ended
    assert all(len(line) <= 80 for frame in frames for line in frame), frames
    assert frames[-3][0].endswith("975.0k/2.50M 39% 250.0k/s ETA 0:06"), frames[-3]
    assert frames[-2][0].endswith("975.0k/2.50M 39% 250.0k/s ETA 0:06 paused"), frames[-2]
    assert frames[-1][0].endswith("1.00M/2.50M 40% 200.0k/s ETA 0:08"), frames[-1]
    assert all(frame[0].startswith("users ") for frame in frames), frames
    text = console.export_text()
    assert "backfill public.users: paused: replica lag 12.5s > 5s\n" in text
    assert "backfill public.users: done, 2,500,000 rows; this run 2,500,000 rows in 6.0 s" in text
