"""The measured demo's two runs: one schema change, made naively and through ec, each under
the same live app traffic and the same trap.

The change: ``orders.amount`` integer -> bigint (a table rewrite under ACCESS EXCLUSIVE when
done in place), ``orders.customer_id`` NOT NULL (a scan under ACCESS EXCLUSIVE) and an index
on it. The trap: a report job reads the table in a long transaction when the change starts.
A plain ALTER TABLE then waits for the report in the lock queue, and every app query queues
behind the ALTER; ec's lock_timeout gives up after a moment and retries with jittered
backoff, letting the app's queries through in between.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from expandcontract.backfill import BackfillSettings
from expandcontract.config import Settings
from expandcontract.demo.model import Marker, Run
from expandcontract.demo.traffic import AppTraffic
from expandcontract.dsn import to_psycopg
from expandcontract.observe import Event
from expandcontract.runner import SafeRunner, Step

TABLE_ROWS = 100_000
REPORT_S = 1.5  # how long the report job holds the table
WARMUP_S = 0.5  # traffic before the change: the baseline
TAIL_S = 0.5  # traffic after it
LEAD_S = 0.1  # the change starts this long after the report job took its lock
LOCK_TIMEOUT_MS = 200
CLIENTS = 4
MIGRATION_NAME = "0002_widen_amount"
# The backfill pauses whenever an app query waits on its row locks: by default for 2 s, then
# until two checks 1 s apart find none (backoff up to 15 s). Shorter pauses here, so the demo
# takes seconds: the behaviour is the same.
BACKFILL_TUNING = BackfillSettings(
    blocking_pause_s=0.3, check_interval_s=0.2, clear_checks=1, backoff_min_s=0.1, backoff_max_s=0.4
)


def tuning_note(demo: BackfillSettings, default: BackfillSettings) -> str:
    """How the demo's backfill yields to the app, next to the defaults (from the settings)."""

    def yields(s: BackfillSettings) -> str:
        checks = f"{s.clear_checks} clear check{'s' if s.clear_checks != 1 else ''}"
        return f"{s.blocking_pause_s:g} s, then {checks} every {s.check_interval_s:g} s"

    return (
        "the backfill pauses whenever an app query waits on its row locks: "
        f"{yields(demo)} (demo settings; by default {yields(default)})"
    )


TUNING_NOTE = tuning_note(BACKFILL_TUNING, BackfillSettings())

SEED = (
    "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id integer, amount integer NOT NULL,"
    " note text, created_at timestamptz NOT NULL DEFAULT now())",
    "INSERT INTO orders (id, customer_id, amount, note) SELECT g, 1 + g % 5000, g % 10000,"
    " 'order ' || g FROM generate_series(1, {rows}) g",
)

# What people do: the same change as three plain statements, no lock_timeout. They are run
# directly on purpose (not through ec's SafeRunner): this is the run ec is compared with.
NAIVE = (
    ("1", "amount TYPE bigint", "ALTER TABLE orders ALTER COLUMN amount TYPE bigint"),
    ("2", "SET NOT NULL", "ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL"),
    ("3", "CREATE INDEX", "CREATE INDEX orders_customer_id_idx ON orders (customer_id)"),
)

CHANGE: dict[str, Any] = {
    "operations": [
        {
            "alter_column": {
                "table": "orders",
                "column": "amount",
                "type": "bigint",
                "up": "amount::bigint",
                "down": "amount::integer",
            }
        },
        {
            "alter_column": {
                "table": "orders",
                "column": "customer_id",
                "nullable": False,
                "up": "coalesce(customer_id, 0)",
            }
        },
        {
            "create_index": {
                "name": "orders_customer_id_idx",
                "table": "orders",
                "columns": ["customer_id"],
            }
        },
    ]
}

REPORT_QUERY = "SELECT count(*), sum(amount) FROM orders"
PHASE_KEYS = {"expand": "E", "backfill": "B", "switch": "S", "contract": "C"}


def seed(url: str, rows: int) -> None:
    """The table both runs start from."""
    with SafeRunner(url, sink=None) as runner:
        statements = [sql.SQL(s).format(rows=sql.Literal(rows)) for s in SEED]
        runner.run(Step.of("create and fill orders", *statements))
        runner.run(Step.of("analyze orders", sql.SQL("VACUUM ANALYZE orders"), transactional=False))


def final_schema(url: str) -> dict[str, Any]:
    """What both runs must end with: the column types, NOT NULL, the index."""
    with psycopg.connect(to_psycopg(url), autocommit=True) as conn:
        columns = {
            name: {"type": kind, "not_null": not_null}
            for name, kind, not_null in conn.execute(
                "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute"
                " WHERE attrelid = 'public.orders'::regclass AND attnum > 0"
                " AND NOT attisdropped ORDER BY attnum"
            )
        }
        indexes = [
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " WHERE i.indrelid = 'public.orders'::regclass AND i.indisvalid ORDER BY 1"
            )
        ]
    return {"columns": columns, "indexes": indexes}


@contextmanager
def report_job(url: str, traffic: AppTraffic, markers: list[Marker]) -> Iterator[None]:
    """A report reads the table in a transaction that stays open for REPORT_S: it holds
    ACCESS SHARE, harmless to the app, fatal to anything queued behind it. Entered once
    the report holds its lock; left once it has committed."""
    holding = threading.Event()
    failed: list[Exception] = []

    def report() -> None:
        try:
            with psycopg.connect(to_psycopg(url), application_name="demo-report-job") as conn:
                conn.execute(REPORT_QUERY.encode()).fetchone()
                markers.append(
                    Marker(
                        traffic.now(),
                        "R",
                        f"report job holds orders for {REPORT_S:.1f} s",
                        "blocker",
                        f"{REPORT_QUERY}, in a transaction left open",
                    )
                )
                holding.set()
                time.sleep(REPORT_S)  # still inside the transaction: the lock stays
                conn.commit()
                markers.append(Marker(traffic.now(), "r", "report job ends", "blocker"))
        except Exception as exc:  # raised in the demo's thread below
            failed.append(exc)
            holding.set()

    thread = threading.Thread(target=report, name="demo-report-job", daemon=True)
    thread.start()
    holding.wait()
    if failed:
        thread.join()
        raise failed[0]
    try:
        yield
    finally:
        thread.join()
    if failed:
        raise failed[0]


def run_naive(url: str, rows: int) -> Run:
    """The change as plain DDL under the app's traffic."""
    markers: list[Marker] = []
    took: list[str] = []
    with AppTraffic(url, rows, clients=CLIENTS) as traffic:
        time.sleep(WARMUP_S)
        with report_job(url, traffic, markers):
            time.sleep(LEAD_S)
            started = traffic.now()
            with psycopg.connect(to_psycopg(url), autocommit=True) as conn:
                for key, label, statement in NAIVE:
                    markers.append(Marker(traffic.now(), key, label, detail=statement))
                    began = time.perf_counter()
                    try:
                        conn.execute(statement.encode())
                        outcome = "took"
                    except psycopg.Error as exc:  # part of the result, like the app's errors
                        outcome = f"failed ({type(exc).__name__}: {exc}) after"
                    ms = (time.perf_counter() - began) * 1000
                    took.append(f"{key}: {statement} {outcome} {ms:,.0f} ms")
            ended = traffic.now()
            markers.append(Marker(ended, "|", "change done", "end"))
        traffic.deploy(None)  # the app is redeployed after the change (fresh connections)
        markers.append(Marker(traffic.now(), "D", "app redeployed", "app", "fresh connections"))
        time.sleep(TAIL_S)
        queries = traffic.stop()
        duration = traffic.now()
    return Run(
        "naive",
        "naive: plain ALTER TABLE and CREATE INDEX, no lock_timeout",
        queries,
        sorted(markers, key=lambda m: m.at_s),
        duration,
        ended - started,
        took,
    )


def run_ec(url: str, rows: int, lock_timeout_ms: int = LOCK_TIMEOUT_MS) -> Run:
    """The same change through ec's library API: apply (expand + backfill), the app's new
    version deployed, switch, complete (contract)."""
    from expandcontract.engine.api import Engine
    from expandcontract.engine.backfill import table_backfill
    from expandcontract.engine.migration import from_spec

    markers: list[Marker] = []
    retries: list[Event] = []
    migration = from_spec(CHANGE, default_name=MIGRATION_NAME)
    settings = Settings(lock_timeout_ms=lock_timeout_ms)
    with AppTraffic(url, rows, clients=CLIENTS) as traffic:

        def observe(event: Event) -> None:
            kind = event.get("event")
            if kind == "phase" and event.get("status") == "started":
                phase = str(event["phase"])
                if phase != "contract":  # marked when `complete` is called (below)
                    markers.append(Marker(traffic.now(), PHASE_KEYS.get(phase, "?"), phase))
            elif kind == "switch" and not any(m.key == "S" for m in markers):
                markers.append(Marker(traffic.now(), "S", "switch"))
            elif kind == "statement" and event.get("outcome") == "retry":
                retries.append(event)
            elif kind == "backfill" and event["data"].get("event") == "throttle":
                data = event["data"]
                detail = str(data.get("detail") or ", ".join(data.get("reasons") or ()))
                label = "backfill pauses (throttled)"
                markers.append(Marker(traffic.now(), "T", label, "throttle", detail))

        engine = Engine(
            url,
            settings,
            backfill=table_backfill(url, settings, tuning=BACKFILL_TUNING),
            sink=None,
            observer=observe,
        )
        time.sleep(WARMUP_S)
        with report_job(url, traffic, markers):
            time.sleep(LEAD_S)
            started = traffic.now()
            engine.apply(migration, through="backfill")
            schema = migration.schema_for("public")
            traffic.deploy(schema)  # the new app version reads and writes through its views
            markers.append(Marker(traffic.now(), "D", "app's new version deployed", "app", schema))
            engine.switch()
            markers.append(Marker(traffic.now(), "C", "contract"))
            engine.complete()
            ended = traffic.now()
            markers.append(Marker(ended, "|", "change done", "end"))
        time.sleep(TAIL_S)
        queries = traffic.stop()
        duration = traffic.now()
    return Run(
        "ec",
        f"ec: expand, backfill, switch, contract (lock_timeout {lock_timeout_ms} ms, retries)",
        queries,
        sorted(markers, key=lambda m: m.at_s),
        duration,
        ended - started,
        [*_retry_notes(retries, lock_timeout_ms), TUNING_NOTE],
    )


def _retry_notes(retries: list[Event], lock_timeout_ms: int) -> list[str]:
    if not retries:
        return ["ec's statements never waited past lock_timeout"]
    blockers = sorted(
        {
            f"pid {b.get('pid')} ({b.get('application') or 'no application name'})"
            for event in retries
            for b in event.get("blockers") or ()
        }
    )
    # lock_wait_ms adds up over a statement's attempts: its last retry holds the total.
    per_step: dict[str, float] = {}
    for event in retries:
        step = str(event.get("step"))
        per_step[step] = max(per_step.get(step, 0.0), float(event.get("lock_wait_ms") or 0))
    return [
        f"ec gave up waiting for a lock {len(retries)} times (lock_timeout {lock_timeout_ms} ms, "
        f"{sum(per_step.values()):.0f} ms of waiting in all) and retried with jittered "
        f"backoff; blocked by {', '.join(blockers) or 'an unnamed session'}"
    ]
