"""Zero-downtime benchmark: every ec operation on a large table under concurrent old- and
new-version traffic, phase by phase, next to the naive single-statement DDL.

    python bench/zero_downtime.py [--rows 1000000] [--server embedded] [--only NAME]

Prints one table: per operation and phase, the traffic's errors, p99 and max query latency.
Target: 0 errors and max stall < 250 ms in every ec phase.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from expandcontract.config import Settings
from expandcontract.engine.api import Engine
from expandcontract.engine.backfill import table_backfill
from expandcontract.engine.migration import Migration, from_spec
from expandcontract.servers import PostgresServer, start_server

SEED = [
    "CREATE TABLE bench (id bigint PRIMARY KEY, amount integer NOT NULL, note text,"
    " flag boolean NOT NULL DEFAULT false)",
    "INSERT INTO bench SELECT g, g % 100000, CASE WHEN g % 7 = 0 THEN NULL ELSE 'n' || g END,"
    " g % 2 = 0 FROM generate_series(1, {rows}) g",
    "VACUUM ANALYZE bench",
]


@dataclasses.dataclass
class Scenario:
    name: str
    operation: dict[str, Any]
    naive: str
    old_read: str = "SELECT amount, note FROM bench WHERE id = %(id)s"
    old_write: str = "UPDATE bench SET amount = %(v)s WHERE id = %(id)s"
    new_read: str = "SELECT amount, note FROM bench WHERE id = %(id)s"
    new_write: str = "UPDATE bench SET amount = %(v)s WHERE id = %(id)s"


SCENARIOS = [
    Scenario(
        "add_column (volatile default)",
        {
            "add_column": {
                "table": "bench",
                "column": {"name": "token", "type": "float8", "default": "random()"},
            }
        },
        "ALTER TABLE bench ADD COLUMN token float8 DEFAULT random()",
        new_read="SELECT amount, token FROM bench WHERE id = %(id)s",
    ),
    Scenario(
        "alter_column type int->bigint",
        {
            "alter_column": {
                "table": "bench",
                "column": "amount",
                "type": "bigint",
                "up": "amount::bigint",
                "down": "amount::integer",
            }
        },
        "ALTER TABLE bench ALTER COLUMN amount TYPE bigint",
    ),
    Scenario(
        "alter_column SET NOT NULL",
        {
            "alter_column": {
                "table": "bench",
                "column": "note",
                "nullable": False,
                "up": "coalesce(note, '')",
            }
        },
        "UPDATE bench SET note = '' WHERE note IS NULL;"
        " ALTER TABLE bench ALTER COLUMN note SET NOT NULL",
        old_write="UPDATE bench SET note = 'x' || %(v)s WHERE id = %(id)s",
        new_write="UPDATE bench SET note = 'y' || %(v)s WHERE id = %(id)s",
    ),
    Scenario(
        "create_index",
        {"create_index": {"name": "bench_amount_idx", "table": "bench", "columns": ["amount"]}},
        "CREATE INDEX bench_amount_idx ON bench (amount)",
    ),
    Scenario(
        "rename_column",
        {"rename_column": {"table": "bench", "from": "note", "to": "comment"}},
        "ALTER TABLE bench RENAME COLUMN note TO comment",
        new_read="SELECT amount, comment FROM bench WHERE id = %(id)s",
    ),
    Scenario(
        "drop_column",
        {"drop_column": {"table": "bench", "column": "flag", "down": "false"}},
        "ALTER TABLE bench DROP COLUMN flag",
        old_read="SELECT amount, flag FROM bench WHERE id = %(id)s",
        old_write="UPDATE bench SET flag = NOT flag, amount = %(v)s WHERE id = %(id)s",
    ),
]


class Traffic:
    """Clients issuing point reads and writes; latencies are bucketed by the current phase."""

    def __init__(self, url: str, rows: int) -> None:
        self.url, self.rows = url, rows
        self.phase = "setup"
        self.samples: dict[str, list[float]] = {}
        self.errors: dict[str, list[str]] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def client(self, read: str, write: str, search_path: str | None, seed: int) -> threading.Event:
        """Start a client; set the returned event to retire it (its app version is gone)."""
        retired = threading.Event()

        def loop() -> None:
            rng = random.Random(seed)
            conn = psycopg.connect(self.url, autocommit=True)
            if search_path:
                conn.execute("SELECT set_config('search_path', %s, false)", (search_path,))
            while not self._stop.is_set() and not retired.is_set():
                query = write if rng.random() < 0.3 else read
                params = {"id": rng.randrange(1, self.rows + 1), "v": rng.randrange(1, 100000)}
                phase, started = self.phase, time.perf_counter()
                try:
                    conn.execute(query, params).fetchall() if query is read else conn.execute(
                        query, params
                    )
                    error = None
                except psycopg.Error as exc:
                    error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
                    if conn.broken:
                        conn = psycopg.connect(self.url, autocommit=True)
                elapsed = (time.perf_counter() - started) * 1000
                with self._lock:
                    self.samples.setdefault(phase, []).append(elapsed)
                    if error:
                        self.errors.setdefault(phase, []).append(error)
                time.sleep(0.002)
            conn.close()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        self._threads.append(thread)
        return retired

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def summary(self, phase: str) -> tuple[int, int, float, float]:
        samples = sorted(self.samples.get(phase, [0.0]))
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        return len(samples), len(self.errors.get(phase, [])), p99, samples[-1]


def run_ec(server: PostgresServer, template: str, scenario: Scenario, rows: int) -> list[Any]:
    db = f"zd_ec_{abs(hash(scenario.name)) % 10**8}"
    url = server.create_database(db, template=template)
    settings = Settings(lock_timeout_ms=200)
    engine = Engine(url, settings, backfill=table_backfill(url, settings), sink=None)
    migration: Migration = from_spec({"operations": [scenario.operation]}, default_name="bench")
    traffic = Traffic(url, rows)
    old_clients = [traffic.client(scenario.old_read, scenario.old_write, None, i) for i in (0, 1)]
    results = []
    try:
        time.sleep(0.5)
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("expand", lambda: engine.apply(migration, through="expand")),
            ("backfill", lambda: engine.apply(migration, through="backfill")),
            ("switch", engine.switch),
            ("contract", engine.complete),
        ]
        for phase, action in steps:
            if phase == "contract":  # contract retires the old version: its clients are gone
                for retired in old_clients:
                    retired.set()
            traffic.phase = phase
            started = time.perf_counter()
            action()
            duration = time.perf_counter() - started
            if phase == "expand":
                vs = migration.schema_for("public")
                for i in range(2):
                    traffic.client(scenario.new_read, scenario.new_write, f"{vs}, public", 10 + i)
            time.sleep(0.3)  # let traffic run in each phase's aftermath too
            results.append((phase, duration))
        traffic.phase = "after"
        time.sleep(0.3)
    finally:
        traffic.stop()
        server.drop_database(db)
    return [(phase, duration, *traffic.summary(phase)) for phase, duration in results] + [
        _examples(traffic)
    ]


def _examples(traffic: Traffic) -> tuple[str, list[str]]:
    return ("examples", sorted({e for errs in traffic.errors.values() for e in errs})[:3])


def run_naive(server: PostgresServer, template: str, scenario: Scenario, rows: int) -> Any:
    db = f"zd_naive_{abs(hash(scenario.name)) % 10**8}"
    url = server.create_database(db, template=template)
    traffic = Traffic(url, rows)
    for i in range(2):
        traffic.client(scenario.old_read, scenario.old_write, None, seed=i)
    try:
        time.sleep(0.5)
        traffic.phase = "naive"
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(scenario.naive)  # the one-step change, no lock_timeout: what people do
        duration = time.perf_counter() - started
        time.sleep(0.3)  # the old app keeps running against the changed table
        time.sleep(0.3)
    finally:
        traffic.stop()
        server.drop_database(db)
    return ("naive", duration, *traffic.summary("naive")), _examples(traffic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--server", default="embedded")
    parser.add_argument("--only", default=None, help="run scenarios whose name contains this")
    args = parser.parse_args()
    server = start_server(args.server)
    try:
        template = "zd_template"
        server.create_database(template)
        with server.connect(template) as conn:
            for statement in SEED:
                conn.execute(sql.SQL(statement).format(rows=sql.Literal(args.rows)))
        print(
            f"# zero-downtime benchmark: {args.rows:,} rows, PostgreSQL "
            f"{server.server_version_num // 10000}, 2 old-version + 2 new-version clients"
        )
        print()
        print("| operation | phase | duration s | queries | errors | p99 ms | max ms | target |")
        print("|---|---|---|---|---|---|---|---|")
        ok = True
        notes: list[str] = []
        for scenario in SCENARIOS:
            if args.only and args.only not in scenario.name:
                continue
            *phases, (_, examples) = run_ec(server, template, scenario, args.rows)
            for phase, duration, count, errors, p99, worst in phases:
                good = errors == 0 and worst < 250
                ok &= good
                print(
                    f"| {scenario.name} | ec {phase} | {duration:.2f} | {count} | {errors} | "
                    f"{p99:.1f} | {worst:.1f} | {'ok' if good else 'MISS'} |"
                )
            notes += [f"{scenario.name} (ec): {e}" for e in examples]
            (phase, duration, count, errors, p99, worst), (_, naive_examples) = run_naive(
                server, template, scenario, args.rows
            )
            print(
                f"| {scenario.name} | naive DDL | {duration:.2f} | {count} | {errors} | "
                f"{p99:.1f} | {worst:.1f} | (reference) |"
            )
            notes += [f"{scenario.name} (naive): {e}" for e in naive_examples]
        print()
        print(f"all ec phases within target: {ok}")
        for note in notes:
            print(f"- {note}")
        server.drop_database(template)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
