"""The engine-wide Prometheus endpoint: a real apply (expand, backfill, switch, contract) with
the registry as observer, scraped over HTTP while it runs and at the end."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from click.testing import CliRunner

from expandcontract.backfill import BackfillSettings
from expandcontract.cli import cli
from expandcontract.config import Settings
from expandcontract.engine.api import Engine
from expandcontract.engine.backfill import table_backfill
from expandcontract.metrics.engine import EngineMetrics
from expandcontract.metrics.server import MetricsHTTPServer
from expandcontract.observe import fanout
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import engine, migration
from tests.observability.promtext import Series, parse, value

WIDEN = {"alter_column": {"table": "users", "column": "amount", "type": "bigint",
                          "up": "amount::bigint", "down": "amount::integer"}}  # fmt: skip
INDEX = {"create_index": {"name": "users_nickname_idx", "table": "users", "columns": ["nickname"]}}


def scrape(server: MetricsHTTPServer) -> Series:
    with urllib.request.urlopen(server.url, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        series, _ = parse(response.read().decode())
    return series


def kinds(events: list[dict[str, Any]], kind: str, **match: Any) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == kind and match.items() <= e.items()]


def test_a_full_apply_is_on_the_endpoint_phase_by_phase(seeded: EcDatabase) -> None:
    registry, events = EngineMetrics(), list[dict[str, Any]]()
    during: dict[str, Series] = {}

    def at_moments(event: dict[str, Any]) -> None:
        if event["event"] == "step" and event["status"] == "started" and "expand" not in during:
            during["expand"] = scrape(server)
        data = event.get("data") or {}
        if data.get("event") == "batch" and "backfill" not in during:
            during["backfill"] = scrape(server)

    with registry.serve(0) as server:
        eng = dataclasses.replace(
            engine(seeded.url), observer=fanout(events.append, registry, at_moments)
        )
        summary = eng.apply(migration("widen", WIDEN, INDEX), through="contract")
        final = scrape(server)

    m = {"migration": "widen"}
    # While expand ran: its first step is the one running.
    expand = during["expand"]
    assert value(expand, "ec_migration_phase", **m, phase="expand") == 1
    assert value(expand, "ec_phase_running", **m, phase="expand") == 1
    assert value(expand, "ec_step_current", **m, phase="expand") == 1
    first = kinds(events, "step", phase="expand", status="started")[0]
    info = [dict(k[1]) for k in expand if k[0] == "ec_step_info"]
    assert info == [{**m, "phase": "expand", "number": "1", "of": str(first["of"]),
                     "description": first["description"], "lock": first["lock"]}]  # fmt: skip
    # While the backfill ran: phase backfill, the table's rows on their way.
    backfill = during["backfill"]
    assert value(backfill, "ec_migration_phase", **m, phase="backfill") == 1
    assert value(backfill, "ec_phase_running", **m, phase="expand") == 0
    assert value(backfill, "ec_backfill_finished", **m, table="public.users") == 0

    # At the end: every step, every row, the switch and the contract.
    done = {p: len(kinds(events, "step", phase=p, status="done")) for p in ("expand", "contract")}
    assert done["expand"] > 1 and done["contract"] > 0
    for phase, count in done.items():
        assert value(final, "ec_steps_total", **m, phase=phase, status="done") == count
        assert value(final, "ec_step_duration_seconds_count", **m, phase=phase) == count
        assert value(final, "ec_phase_running", **m, phase=phase) == 0
        assert value(final, "ec_phase_steps", **m, phase=phase) == kinds(
            events, "phase", phase=phase, status="started")[0]["steps"]  # fmt: skip
    with psycopg.connect(seeded.url) as conn:
        rows = conn.execute("SELECT count(*) FROM users").fetchone()
    assert rows is not None and rows[0] == 300
    assert value(final, "ec_backfill_rows_updated_total", **m, table="public.users") == rows[0]
    assert value(final, "ec_backfill_rows_scanned_total", **m, table="public.users") >= rows[0]
    assert value(final, "ec_backfill_finished", **m, table="public.users") == 1
    assert value(final, "ec_backfill_verified", **m, table="public.users") == 1
    assert value(final, "ec_backfill_eta_seconds", **m, table="public.users") == 0
    assert value(final, "ec_backfill_throttled", **m, table="public.users") == 0
    switched = [(e["to"], e["schema"]) for e in kinds(events, "switch")]
    assert switched == [("new", "public_widen")]  # contract's re-assertion is no change
    assert value(final, "ec_switches_total", **m, to="new") == 1
    current = [dict(k[1]) for k in final if k[0] == "ec_version_current_info"]
    assert current == [{**m, "schema": summary["current_schema"], "version": "new"}]
    assert value(final, "ec_migration_status", **m, status="done") == 1
    assert value(final, "ec_migration_status", **m, status="running") == 0
    assert value(final, "ec_migration_phase", **m, phase="contract") == 1
    assert value(final, "ec_statement_retries_total", **m, phase="expand") == 0
    assert value(final, "ec_blocking_sessions", **m, phase="expand") == 0
    assert value(final, "ec_events_total", **m, event="step") == len(kinds(events, "step"))
    assert not [k for k in final if k[0] == "ec_step_info"]  # nothing runs any more


def test_a_blocked_step_shows_its_blocker_retries_and_lock_wait(seeded: EcDatabase) -> None:
    registry = EngineMetrics()
    while_blocked: list[Series] = []
    blocker = psycopg.connect(seeded.url, application_name="report-job")
    blocker.execute("LOCK TABLE users IN ACCESS SHARE MODE")  # an open transaction holds it

    def release_after_first_retry(event: dict[str, Any]) -> None:
        if event["event"] == "statement" and event["outcome"] == "retry" and not while_blocked:
            while_blocked.append(scrape(server))
            blocker.rollback()

    try:
        with registry.serve(0) as server:
            eng = dataclasses.replace(
                engine(seeded.url, lock_timeout_ms=300),
                observer=fanout(registry, release_after_first_retry),
            )
            eng.apply(migration("blocked", WIDEN), through="expand")
            final = scrape(server)
    finally:
        blocker.close()

    m = {"migration": "blocked", "phase": "expand"}
    blocked = while_blocked[0]
    assert value(blocked, "ec_statement_retries_total", **m) == 1
    assert value(blocked, "ec_blocking_sessions", **m) == 1
    assert value(blocked, "ec_blocker_info", **m, application="report-job") == 1
    assert value(blocked, "ec_lock_wait_seconds_total", **m) > 0
    assert value(final, "ec_blocking_sessions", **m) == 0
    assert not [k for k in final if k[0] == "ec_blocker_info"]
    assert value(final, "ec_statement_retries_total", **m) == 1
    assert value(final, "ec_lock_wait_seconds_total", **m) >= value(
        blocked, "ec_lock_wait_seconds_total", **m
    )
    assert value(final, "ec_steps_total", **m, status="done") > 0


def test_replica_lag_is_shown_while_the_lag_throttle_holds_the_backfill(
    seeded: EcDatabase,
) -> None:
    with psycopg.connect(seeded.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.lag_probe (seconds float8)")
        conn.execute("INSERT INTO public.lag_probe VALUES (7.5)")
    registry = EngineMetrics()
    while_throttled: list[Series] = []

    def catch_up(event: dict[str, Any]) -> None:
        data = event.get("data") or {}
        if data.get("event") == "throttle" and not while_throttled:
            while_throttled.append(scrape(server))
            with psycopg.connect(seeded.url, autocommit=True) as conn:
                conn.execute("UPDATE public.lag_probe SET seconds = 0")

    tuning = BackfillSettings(
        max_replica_lag_s=1.0, lag_query="SELECT seconds FROM public.lag_probe",
        check_interval_s=0.0, backoff_min_s=0.01, backoff_max_s=0.02, clear_checks=1,
    )  # fmt: skip
    settings = Settings()
    eng = Engine(
        seeded.url, settings, backfill=table_backfill(seeded.url, settings, tuning=tuning),
        sink=None, observer=fanout(registry, catch_up),
    )  # fmt: skip
    with registry.serve(0) as server:
        eng.apply(migration("lagged", WIDEN))
        final = scrape(server)

    b = {"migration": "lagged", "table": "public.users"}
    throttled = while_throttled[0]
    assert value(throttled, "ec_backfill_replica_lag_seconds", **b) == 7.5
    assert value(throttled, "ec_backfill_throttled", **b) == 1
    assert "replica lag 7.5s" in next(
        dict(k[1])["reason"] for k in throttled if k[0] == "ec_backfill_throttle_info"
    )
    assert not [k for k in final if k[0] == "ec_backfill_replica_lag_seconds"]
    assert value(final, "ec_backfill_throttled", **b) == 0
    assert value(final, "ec_backfill_finished", **b) == 1
    assert value(final, "ec_backfill_rows_updated_total", **b) == 300


def test_ec_apply_metrics_port_on_every_address_serves_the_run_while_it_is_blocked(
    seeded: EcDatabase, tmp_path: Path
) -> None:
    (tmp_path / "widen.yaml").write_text(json.dumps({"operations": [WIDEN]}))
    env = {k: v for k, v in os.environ.items() if k != "EC_DATABASE_URL"}
    blocker = psycopg.connect(seeded.url, application_name="long-report")
    blocker.execute("LOCK TABLE users IN ACCESS SHARE MODE")
    ec = str(Path(sys.executable).with_name("ec"))
    proc = subprocess.Popen(
        [ec, "apply", "widen.yaml", "--phase", "expand", "--metrics-port", "0",
         "--metrics-host", "0.0.0.0", "--lock-timeout", "200ms", "-d", seeded.url],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        url = next(line.split(" ", 1)[1].strip() for line in proc.stderr
                   if line.startswith("metrics: "))  # fmt: skip
        assert url.startswith("http://0.0.0.0:"), url  # every address: scraped via loopback
        url = url.replace("0.0.0.0", "127.0.0.1", 1)
        series = _scrape_until(url, lambda s: s.get(("ec_blocking_sessions", (
            ("migration", "widen"), ("phase", "expand")))) == 1)  # fmt: skip
        assert value(series, "ec_blocker_info", application="long-report") == 1
        assert value(series, "ec_phase_running", migration="widen", phase="expand") == 1
        blocker.rollback()
        out, err = proc.communicate(timeout=120)
    finally:
        blocker.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "expand: done" in out


def _scrape_until(url: str, wanted: Callable[[Series], bool]) -> Series:
    """Scrape until ``wanted`` (bounded: the run is held by a lock until the test lets go)."""
    for _ in range(600):
        with urllib.request.urlopen(url, timeout=5) as response:
            series, _ = parse(response.read().decode())
        if wanted(series):
            return series
        threading.Event().wait(0.05)
    raise AssertionError(f"never seen on {url}")


def test_a_metrics_port_in_use_is_refused_in_one_line(seeded: EcDatabase) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = CliRunner().invoke(cli, ["complete", "--metrics-port", port, "-d", seeded.url])
    assert result.exit_code != 0
    assert f"cannot serve metrics on port {port} (127.0.0.1)" in result.output  # the default
    assert "internal error" not in result.output
