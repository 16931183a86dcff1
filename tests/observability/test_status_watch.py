"""`ec status`: phase, steps, backfill progress, blockers, at 80 columns; `--watch` follows
a migration through its phases and ends when it finishes."""

from __future__ import annotations

import io
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from rich.console import Console

from expandcontract.cli import cli
from expandcontract.cli.ledger_cmds import render_status, show_watch
from expandcontract.engine.api import Engine
from expandcontract.metrics.live_status import LiveStatus, signature, watch
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import engine, migration

LONG = "0042_widen_users_amount_to_bigint_for_billing_2026"  # public_LONG: 57 chars
WIDEN = {"alter_column": {"table": "users", "column": "amount", "type": "bigint",
                          "up": "amount::bigint", "down": "amount::integer"}}  # fmt: skip
INDEX = {"create_index": {"name": "users_nickname_idx", "table": "users", "columns": ["nickname"]}}


def rendered(data: dict[str, Any]) -> str:
    out = io.StringIO()
    render_status(Console(file=out, width=80, highlight=False), data)
    return out.getvalue()


def assert_fits_80(text: str) -> None:
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_status_shows_steps_and_backfill_progress_in_80_columns(seeded: EcDatabase) -> None:
    eng = engine(seeded.url)
    eng.apply(migration(LONG, WIDEN, INDEX), through="expand")
    after_expand = eng.status()
    eng.apply(migration(LONG, WIDEN, INDEX), through="backfill")
    after_backfill = eng.status()

    steps = after_expand["migrations"][0]["steps"]
    assert steps["expand"]["done"] == steps["expand"]["of"] > 1
    assert steps["contract"]["done"] == 0 and steps["contract"]["next"]
    text = rendered(after_expand)
    assert_fits_80(text)
    of = steps["expand"]["of"]
    assert re.search(rf"expand +done +{of}/{of} *\n", text)
    assert LONG[:40] in text.replace("\n", "")

    (backfill,) = after_backfill["backfills"]
    assert backfill["rows_scanned"] >= 300 and backfill["status"] == "done"
    text = rendered(after_backfill)
    assert_fits_80(text)
    assert "public.users" in text and f"{backfill['rows_scanned']:,}" in text
    assert "done (verified)" in text.replace("\n", " ").replace("  ", " ")


def test_status_names_the_session_blocking_ec(seeded: EcDatabase) -> None:
    blocker = psycopg.connect(seeded.url, application_name="nightly-report")
    blocker.execute("LOCK TABLE users IN ACCESS SHARE MODE")
    eng = engine(seeded.url, lock_timeout_ms=30_000)
    worker = threading.Thread(target=eng.apply, args=(migration("blocked", WIDEN),),
                              kwargs={"through": "expand"})  # fmt: skip
    worker.start()
    try:
        data = eng.status()
        for _ in range(200):  # until ec's expand step is waiting for the lock
            if data["blockers"]:
                break
            threading.Event().wait(0.05)
            data = eng.status()
    finally:
        blocker.rollback()
        blocker.close()
        worker.join()
    (found,) = data["blockers"]
    expand = data["migrations"][0]["steps"]["expand"]
    assert expand["done"] < expand["of"] and expand["next"]  # the step waiting for the lock
    assert found["application"] == "nightly-report"
    assert found["state"] == "idle in transaction"
    assert found["waiting"].startswith("expandcontract")
    text = rendered(data)
    assert_fits_80(text)
    assert "nightly-report" in text and "blocking ec" in text
    assert re.search(r"expand +running +\d+/\d+", text)
    assert eng.status()["blockers"] == []


def test_rates_and_eta_come_from_two_successive_reads() -> None:
    reads = iter([
        {"backfills": [{"name": "b", "status": "running", "rows_scanned": 100,
                        "rows_estimate": 1000}]},
        {"backfills": [{"name": "b", "status": "running", "rows_scanned": 300,
                        "rows_estimate": 1000}]},
        {"backfills": [{"name": "b", "status": "done", "rows_scanned": 1000,
                        "rows_estimate": 1000}]},
    ])  # fmt: skip
    clock = iter([10.0, 12.0, 13.0])
    live = LiveStatus(lambda: next(reads), clock=lambda: next(clock))
    first, second, third = live.next(), live.next(), live.next()
    assert first["backfills"][0]["rows_per_second"] is None  # nothing to compare with yet
    assert second["backfills"][0]["rows_per_second"] == 100.0  # 200 rows in 2 s
    assert second["backfills"][0]["eta_s"] == 7.0  # 700 rows left at 100 rows/s
    assert third["backfills"][0]["rows_per_second"] is None  # done: no rate


def test_signature_ignores_what_moves_by_itself() -> None:
    base = {"phase": "backfill", "backfills": [{"rows_scanned": 5, "updated_at": "t1"}]}
    assert signature(base) == signature({**base, "backfills": [
        {"rows_scanned": 5, "updated_at": "t2", "rows_per_second": 3.0}]})  # fmt: skip
    assert signature(base) != signature({**base, "backfills": [{"rows_scanned": 6}]})


def test_watch_on_a_pipe_prints_a_block_only_when_something_changed(seeded: EcDatabase) -> None:
    engine(seeded.url).apply(migration("quiet", WIDEN), through="expand")
    result = CliRunner().invoke(
        cli, ["status", "--watch", "0.5", "--count", "2", "-d", seeded.url],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.count("-- ") == 1  # two readings, one state
    assert "active migration quiet in phase expand" in result.output
    many = CliRunner().invoke(
        cli, ["status", "--watch", "0.5", "--count", "2", "--json", "-d", seeded.url]
    )
    readings = [json.loads(line) for line in many.output.splitlines()]
    assert len(readings) == 2 and all(r["migration"] == "quiet" for r in readings)


def test_count_needs_watch(seeded: EcDatabase) -> None:
    result = CliRunner().invoke(cli, ["status", "--count", "2", "-d", seeded.url])
    assert result.exit_code == 2 and "--count needs --watch" in result.output


def test_watch_refreshes_at_most_twice_a_second(seeded: EcDatabase) -> None:
    def watch_every(seconds: str | None) -> Any:
        watch = "--watch" if seconds is None else f"--watch={seconds}"
        return CliRunner().invoke(
            cli, ["status", watch, "--count", "1", "--json", "-d", seeded.url]
        )

    for too_often in ("0.49", "0", "nan", "inf"):
        refused = watch_every(too_often)
        assert refused.exit_code == 2, (too_often, refused.output)
        assert "at least 0.5 seconds between readings" in refused.output
    for accepted in ("0.5", "3600", None):  # None: the default, every 2 s
        shown = watch_every(accepted)
        assert shown.exit_code == 0, (accepted, shown.output)
        assert json.loads(shown.output)["ok"] is True  # one reading (--count 1): no wait


@pytest.fixture
def lines_of(tmp_path: Path) -> Iterator[Any]:
    """Start ``ec ARGS``; returns (process, next_line) with a bounded wait per line."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], Any]:
        env = {**os.environ, "NO_COLOR": "1"}
        env.pop("EC_DATABASE_URL", None)
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("ec")), *args], cwd=tmp_path, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        started.append(proc)
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        return proc, lambda: lines.get(timeout=60)

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_watch_follows_a_migration_across_phases_until_it_finishes(
    seeded: EcDatabase, lines_of: Any
) -> None:
    eng: Engine = engine(seeded.url)
    change = migration("followed", WIDEN, INDEX)
    eng.apply(change, through="expand")
    proc, next_line = lines_of("status", "--watch", "0.5", "--json", "-d", seeded.url)
    seen: list[tuple[Any, ...]] = []

    def read_until(done: Any) -> None:
        while True:
            line = next_line()
            assert line is not None, proc.stderr.read() if proc.stderr else ""
            assert line.startswith('{"ok": true'), line + "".join(iter(next_line, None))
            data = json.loads(line)
            steps = (data["migrations"][0].get("steps") or {}).get("contract", {})
            state = (data["migration"], data["migrations"][0]["phase"], steps.get("done"))
            if not seen or seen[-1] != state:
                seen.append(state)
            if done(data):
                return

    read_until(lambda d: d["phase"] == "expand")
    eng.apply(change, through="backfill")
    read_until(lambda d: d["phase"] == "backfill")
    eng.complete()
    read_until(lambda d: d["migration"] is None)
    assert proc.wait(timeout=60) == 0  # the migration finished: the watch ended by itself
    assert next_line() is None  # that reading was the last
    assert seen[0] == ("followed", "expand", 0)
    assert ("followed", "backfill", 0) in seen
    assert seen[-1][:2] == (None, "contract")


def test_watch_generator_stops_after_count() -> None:
    calls: list[int] = []

    def read() -> dict[str, Any]:
        calls.append(1)
        return {"migrations": [{"name": "m", "active": True}], "backfills": []}

    assert len(list(watch(read, interval_s=0.0, count=4))) == 4 == len(calls)


def test_watch_generator_ends_with_the_reading_where_the_migration_finished() -> None:
    states = iter([None, "m", "m", None, None])
    readings = list(watch(lambda: {"migration": next(states)}, interval_s=0.0))
    assert [r["migration"] for r in readings] == [None, "m", "m", None]


def test_watch_on_a_terminal_redraws_in_place_within_80_columns(seeded: EcDatabase) -> None:
    eng = engine(seeded.url)
    eng.apply(migration("live", WIDEN), through="expand")
    before = eng.status()
    eng.apply(migration("live", WIDEN), through="backfill")
    after = eng.status()
    out = io.StringIO()
    terminal = Console(file=out, width=80, force_terminal=True, color_system=None)
    show_watch(terminal, iter([before, after]), 0.5)
    screen = out.getvalue()
    assert "refreshing every 0.5s" in screen
    assert "in phase expand" in screen and "in phase backfill" in screen
    assert "\x1b[" in screen  # the cursor moved back up: one view, redrawn
    assert_fits_80(re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen))


def test_ctrl_c_ends_a_watch_normally(seeded: EcDatabase, lines_of: Any) -> None:
    proc, next_line = lines_of("status", "--watch", "0.5", "--json", "-d", seeded.url)
    assert json.loads(next_line())["initialized"] is False
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0
    assert proc.stderr is not None and "interrupted" not in proc.stderr.read()


def test_a_read_racing_the_migration_is_skipped_but_a_lasting_failure_ends_the_watch() -> None:
    outcomes: list[Any] = [None, psycopg.errors.UndefinedColumn("gone meanwhile"), None]

    def read() -> dict[str, Any]:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return {"migration": "m"}

    assert len(list(watch(read, interval_s=0.0, count=2))) == 2 and not outcomes

    def away() -> dict[str, Any]:
        raise psycopg.OperationalError("server closed the connection")

    with pytest.raises(psycopg.OperationalError):
        list(watch(away, interval_s=0.0))
