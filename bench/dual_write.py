"""What the dual-write trigger costs an old-version writer, and what tolerating failing rows adds.

    python bench/dual_write.py [--rows 100000] [--single 5000] [--server embedded]

One run, one server, one table shape (`id bigint primary key, code text`, migrating `code` to
integer with `up: code::integer`), three variants of the same table:

- no trigger: the same columns (twin and pending marker included), no dual writes;
- strict: the trigger as contract installs it (an `up` error fails the write);
- tolerant: the trigger as expand installs it (an `up` error leaves the row pending; the `up`
  assignments run in a PL/pgSQL exception block, i.e. a subtransaction per row write).

Workloads: single-row INSERTs (one transaction each, client loop), one bulk INSERT … SELECT, and
single-row UPDATEs of the column `up` reads. Prints rows/s and the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg
from psycopg import sql

from expandcontract.config import Settings
from expandcontract.engine.api import Engine
from expandcontract.engine.backfill import table_backfill
from expandcontract.engine.migration import from_spec
from expandcontract.servers import start_server

MIGRATION = {
    "operations": [
        {
            "alter_column": {
                "table": "t",
                "column": "code",
                "type": "integer",
                "up": "code::integer",
                "down": "code::text",
            }
        }
    ]
}


def _setup(url: str, rows: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id bigint PRIMARY KEY, code text)")
        conn.execute("INSERT INTO t SELECT g, g::text FROM generate_series(1, %s) g", (rows,))
        conn.execute("VACUUM ANALYZE t")
    settings = Settings()
    engine = Engine(url, settings, backfill=table_backfill(url, settings), sink=None)
    engine.apply(from_spec(MIGRATION, default_name="bench"))
    with psycopg.connect(url, autocommit=True) as conn:
        # The same columns without the trigger: the baseline.
        conn.execute(
            "CREATE TABLE plain (id bigint PRIMARY KEY, code text, _ec_new_code integer,"
            " _ec_pending boolean DEFAULT true)"
        )


def _strict_body(url: str) -> str:
    """The CREATE FUNCTION statement contract runs first (the strict trigger)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT spec FROM expandcontract.migrations WHERE name = 'bench'"
        ).fetchone()
    assert row is not None
    steps = row[0]["plan"]["phases"]["contract"]
    strict = next(s for s in steps if s["key"].startswith("strict:"))
    return next(str(x) for x in strict["statements"] if "CREATE OR REPLACE FUNCTION" in x)


def _tolerant_body(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT spec FROM expandcontract.migrations WHERE name = 'bench'"
        ).fetchone()
    assert row is not None
    steps = row[0]["plan"]["phases"]["expand"]
    trigger = next(s for s in steps if s["key"].startswith("trigger:"))
    return str(trigger["statements"][0])


def _single_inserts(url: str, table: str, start: int, n: int) -> float:
    insert = sql.SQL("INSERT INTO {} (id, code) VALUES (%s, %s)").format(sql.Identifier(table))
    with psycopg.connect(url, autocommit=True) as conn:
        begin = time.perf_counter()
        for i in range(start, start + n):
            conn.execute(insert, (i, str(i)))
        return n / (time.perf_counter() - begin)


def _bulk_insert(url: str, table: str, start: int, n: int) -> float:
    insert = sql.SQL(
        "INSERT INTO {} (id, code) SELECT g, g::text FROM generate_series(%s::bigint, %s::bigint) g"
    ).format(sql.Identifier(table))
    with psycopg.connect(url, autocommit=True) as conn:
        begin = time.perf_counter()
        conn.execute(insert, (start, start + n - 1))
        return n / (time.perf_counter() - begin)


def _single_updates(url: str, table: str, first: int, n: int) -> float:
    update = sql.SQL("UPDATE {} SET code = %s WHERE id = %s").format(sql.Identifier(table))
    with psycopg.connect(url, autocommit=True) as conn:
        begin = time.perf_counter()
        for i in range(first, first + n):
            conn.execute(update, (str(i + 1), i))
        return n / (time.perf_counter() - begin)


VARIANTS = ("no trigger", "strict trigger", "tolerant trigger")
WORKLOADS = ("single INSERT", "bulk INSERT", "single UPDATE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server", default="embedded")
    args = parser.parse_args()
    server = start_server(args.server)
    try:
        url = server.create_database("bench_dual_write")
        _setup(url, args.rows)
        bodies = {"strict trigger": _strict_body(url), "tolerant trigger": _tolerant_body(url)}
        samples: dict[tuple[str, str], list[float]] = {}
        next_id = 10_000_000
        # Rounds interleave the variants, so a busy moment of the machine hits all of them.
        for _ in range(args.rounds):
            for variant in VARIANTS:
                table = "plain" if variant == "no trigger" else "t"
                if variant in bodies:
                    with psycopg.connect(url, autocommit=True) as conn:
                        conn.execute(bodies[variant])
                per = args.single // args.rounds
                measured = {
                    "single INSERT": _single_inserts(url, table, next_id, per),
                    "bulk INSERT": _bulk_insert(
                        url, table, next_id + per, args.rows // args.rounds
                    ),
                    "single UPDATE": _single_updates(url, table, next_id, per),
                }
                next_id += per + args.rows
                for workload, value in measured.items():
                    samples.setdefault((variant, workload), []).append(value)
        _print({k: statistics.median(v) for k, v in samples.items()}, args)
    finally:
        server.stop()


def _print(median: dict[tuple[str, str], float], args: argparse.Namespace) -> None:
    print(
        f"old-version writes: {args.single:,} single-row statements and {args.rows:,} bulk-inserted"
        f" rows per variant, median of {args.rounds} interleaved rounds"
    )
    print(f"{'workload (rows/s)':<18} {'no trigger':>11} {'strict':>9} {'tolerant':>9}"
          f" {'tolerant/strict':>16} {'strict/none':>12}")  # fmt: skip
    for workload in WORKLOADS:
        none, strict, tolerant = (median[(v, workload)] for v in VARIANTS)
        print(
            f"{workload:<18} {none:>11,.0f} {strict:>9,.0f} {tolerant:>9,.0f}"
            f" {tolerant / strict:>15.2f}x {strict / none:>11.2f}x"
        )


if __name__ == "__main__":
    main()
