"""``ec demo``: a short, real tour on a throwaway server.

The full expand/backfill/switch/contract walkthrough arrives with the migration engine; until
then the demo shows the foundation at work: a throwaway server, the ledger, and the safe
runner retrying an ALTER TABLE politely while a long transaction holds the table, so that
application queries are never stuck behind ec for longer than lock_timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from expandcontract.dsn import to_psycopg
from expandcontract.events import StatementEvent
from expandcontract.ledger import Ledger
from expandcontract.runner import RetryPolicy, SafeRunner, Step
from expandcontract.servers import start_server

LOCK_TIMEOUT_MS = 200
BLOCKER_SECONDS = 1.5


def run_demo(server_kind: str = "auto", say: Callable[[str], None] = print) -> dict[str, Any]:
    started = time.monotonic()
    server = start_server(server_kind)
    try:
        version = server.server_version_num
        say(f"1. started a throwaway PostgreSQL ({server.kind}, version {version})")
        url = server.create_database("ec_demo")
        events: list[StatementEvent] = []
        policy = RetryPolicy(lock_timeout_ms=LOCK_TIMEOUT_MS, max_attempts=30, max_total_ms=20_000)
        with SafeRunner(url, policy=policy, sink=events.append) as runner:
            ledger = Ledger(runner)
            ledger.ensure()
            say(f"2. installed the ledger (schema {ledger.schema!r}, version {ledger.version()})")
            runner.run(
                Step.of(
                    "create demo table",
                    sql.SQL("CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL)"),
                    sql.SQL(
                        "INSERT INTO users SELECT g, 'user' || g || '@example.com'"
                        " FROM generate_series(1, 10000) g"
                    ),
                )
            )
            say("3. created table users with 10,000 rows")
            result, app_max_ms = _alter_under_contention(url, runner, say)
        status = ledger_status(url)
    finally:
        server.stop()
    retries = [e for e in events if e.outcome == "retry"]
    blockers = sorted({b.pid for e in retries for b in e.blockers})
    summary = {
        "server": server.kind,
        "ddl_attempts": result.attempts,
        "ddl_lock_wait_ms": round(result.lock_wait_ms),
        "blocker_pids": blockers,
        "lock_timeout_ms": LOCK_TIMEOUT_MS,
        "app_query_max_wait_ms": round(app_max_ms),
        "ledger": status,
        "seconds": round(time.monotonic() - started, 2),
    }
    say(
        f"5. ec took {result.attempts} attempts ({round(result.lock_wait_ms)} ms waiting on locks, "
        f"blocked by pid {', '.join(map(str, blockers)) or '-'}); the application's slowest "
        f"query waited {app_max_ms:.0f} ms (lock_timeout is {LOCK_TIMEOUT_MS} ms)"
    )
    say("   without lock_timeout the same ALTER would have stalled every query for the "
        f"whole {BLOCKER_SECONDS:.1f} s the long transaction lasted")  # fmt: skip
    say("6. the server is gone. The expand/backfill/switch/contract walkthrough will replace "
        "this tour when the migration engine lands.")  # fmt: skip
    return summary


def _alter_under_contention(
    url: str, runner: SafeRunner, say: Callable[[str], None]
) -> tuple[Any, float]:
    """A reporting job holds the table; ec's ALTER must not become a traffic jam."""
    blocker = psycopg.connect(to_psycopg(url), application_name="demo-report-job")
    blocker.execute("SELECT count(*) FROM users")  # leaves the transaction open: ACCESS SHARE held
    threading.Timer(BLOCKER_SECONDS, blocker.commit).start()
    stop = threading.Event()
    worst = [0.0]

    def app_traffic() -> None:
        with psycopg.connect(to_psycopg(url), autocommit=True, application_name="demo-app") as c:
            while not stop.is_set():
                t = time.monotonic()
                c.execute("SELECT email FROM users WHERE id = 42").fetchone()
                worst[0] = max(worst[0], (time.monotonic() - t) * 1000)
                time.sleep(0.01)

    traffic = threading.Thread(target=app_traffic, daemon=True)
    traffic.start()
    say(f"4. a report job holds users open for {BLOCKER_SECONDS} s; ec runs ALTER TABLE ADD COLUMN "
        f"with lock_timeout {LOCK_TIMEOUT_MS} ms while the app keeps querying")  # fmt: skip
    try:
        result = runner.run(
            Step.of("add column users.status", sql.SQL("ALTER TABLE users ADD COLUMN status text"))
        )
    finally:
        stop.set()
        traffic.join()
        blocker.close()
    return result, worst[0]


def ledger_status(url: str) -> dict[str, Any]:
    with SafeRunner(url, sink=None) as runner:
        return Ledger(runner).status()
