"""``ec demo --quick``: a short, real tour on a throwaway server.

1. the safe runner retries an ALTER TABLE politely while a long transaction holds the table,
   so application queries are never stuck behind ec for longer than lock_timeout;
2. a migration (rename + type change + NOT NULL + index) through expand, backfill, switch and
   contract, with the old and the new app version reading and writing at the same time.
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


def run_tour(server_kind: str = "auto", say: Callable[[str], None] = print) -> dict[str, Any]:
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
            result, app_max_ms, held_s = _alter_under_contention(url, runner, say)
            held_s = round(held_s, 2)  # as said and as returned
        retries = [e for e in events if e.outcome == "retry"]
        blockers = sorted({b.pid for e in retries for b in e.blockers})
        say(
            f"   ec took {result.attempts} attempts ({round(result.lock_wait_ms)} ms waiting on "
            f"locks, blocked by pid {', '.join(map(str, blockers)) or '-'}); the app's slowest "
            f"query waited {app_max_ms:.0f} ms (lock_timeout {LOCK_TIMEOUT_MS} ms) while the "
            f"report job held users for {held_s:.2f} s"
        )
        walkthrough = _four_phases(url, say)
        status = ledger_status(url)
    finally:
        server.stop()
    summary = {
        "server": server.kind,
        "ddl_attempts": result.attempts,
        "ddl_lock_wait_ms": round(result.lock_wait_ms),
        "blocker_pids": blockers,
        "lock_timeout_ms": LOCK_TIMEOUT_MS,
        "app_query_max_wait_ms": round(app_max_ms),
        "blocker_held_s": held_s,
        "migration": walkthrough,
        "ledger": status,
        "seconds": round(time.monotonic() - started, 2),
    }
    say(f"done in {time.monotonic() - started:.1f} s; the throwaway server is gone.")
    return summary


def _alter_under_contention(
    url: str, runner: SafeRunner, say: Callable[[str], None]
) -> tuple[Any, float, float]:
    """A reporting job holds the table; ec's ALTER must not become a traffic jam. Returns the
    step's result, the app's slowest query (ms) and how long the job held the table (s)."""
    blocker = psycopg.connect(to_psycopg(url), application_name="demo-report-job")
    blocker.execute("SELECT count(*) FROM users")  # leaves the transaction open: ACCESS SHARE held
    held_from = time.monotonic()
    released_at = [held_from]

    def release() -> None:
        blocker.commit()
        released_at[0] = time.monotonic()

    timer = threading.Timer(BLOCKER_SECONDS, release)
    timer.start()
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
    say(
        f"4. a report job holds users open for {BLOCKER_SECONDS} s; ec runs ALTER TABLE ADD "
        f"COLUMN with lock_timeout {LOCK_TIMEOUT_MS} ms while the app keeps querying"
    )
    try:
        result = runner.run(
            Step.of("add column users.status", sql.SQL("ALTER TABLE users ADD COLUMN status text"))
        )
    finally:
        stop.set()
        traffic.join()
        timer.join()  # the ALTER got its lock once the job let go: this is at most a moment
        blocker.close()
    return result, worst[0], released_at[0] - held_from


DEMO_MIGRATION = {
    "operations": [
        {"rename_column": {"table": "users", "from": "email", "to": "email_address"}},
        {
            "alter_column": {
                "table": "users",
                "column": "status",
                "nullable": False,
                "up": "coalesce(status, 'active')",
            }
        },
        {
            "add_column": {
                "table": "users",
                "column": {"name": "plan", "type": "text", "nullable": False, "default": "'free'"},
                "up": "CASE WHEN id % 10 = 0 THEN 'pro' ELSE 'free' END",
            }
        },
        {"create_index": {"name": "users_plan_idx", "table": "users", "columns": ["plan"]}},
    ]
}


def _four_phases(url: str, say: Callable[[str], None]) -> dict[str, Any]:
    from expandcontract.config import Settings
    from expandcontract.engine.api import Engine
    from expandcontract.engine.backfill import table_backfill
    from expandcontract.engine.migration import from_spec

    migration = from_spec(DEMO_MIGRATION, default_name="0002_plans")
    settings = Settings()
    engine = Engine(url, settings, backfill=table_backfill(url, settings), sink=None)
    new_schema = migration.schema_for("public")
    engine.apply(migration, through="expand")
    say(
        "5. expand: plan added, email renamed and status made NOT NULL for the new version "
        f"only; both versions are live (new version: search_path {new_schema}, public)"
    )
    with psycopg.connect(to_psycopg(url), autocommit=True) as old:
        old.execute("INSERT INTO users (id, email) VALUES (10001, 'old-app@example.com')")
    with psycopg.connect(to_psycopg(url), autocommit=True) as new:
        new.execute("SELECT set_config('search_path', %s, false)", (f"{new_schema}, public",))
        new.execute(
            "INSERT INTO users (id, email_address, plan, status) VALUES"
            " (10002, 'new-app@example.com', 'pro', 'active')"
        )
        engine.apply(migration, through="backfill")
        seen = new.execute(
            "SELECT id, email_address, plan, status FROM users WHERE id IN (10, 10001) ORDER BY id"
        ).fetchall()
    say(f"6. backfill: 10,000 rows filled and verified; the new version reads {seen}")
    with psycopg.connect(to_psycopg(url), autocommit=True) as old:
        row = old.execute("SELECT email FROM users WHERE id = 10002").fetchone()
    say(f"   the old version reads the new version's insert as email={row[0] if row else None!r}")
    engine.switch()
    say(f"7. switch: {new_schema} is current (`ec switch --back` would undo it instantly)")
    engine.complete()
    with psycopg.connect(to_psycopg(url), autocommit=True) as conn:
        columns = [
            r[0]
            for r in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'users'::regclass"
                " AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
            )
        ]
    say(f"8. contract: the table is now {columns}; old columns and triggers are gone")
    return {"name": migration.name, "new_schema": new_schema, "final_columns": columns}


def ledger_status(url: str) -> dict[str, Any]:
    with SafeRunner(url, sink=None) as runner:
        return Ledger(runner).status()
