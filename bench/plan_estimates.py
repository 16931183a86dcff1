"""Measure what `ec plan`'s estimates rest on (a bench script, run by hand):

    .venv/bin/python bench/plan_estimates.py --server embedded --rows 50000 1000000

For each size, on a table that was never analysed: the planner's own row estimate (EXPLAIN)
against a TABLESAMPLE SYSTEM count, each timed; then the real cost of a full scan, a
concurrent index build and ec's backfill of a type change against the sampled read rate
(the factors in expandcontract/engine/estimates.py)."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import psycopg

from expandcontract.config import Settings
from expandcontract.engine.api import Engine
from expandcontract.engine.backfill import table_backfill
from expandcontract.engine.estimates import sample_table
from expandcontract.engine.migration import load
from expandcontract.servers import start_server

MIGRATION = """operations:
  - alter_column: {table: bench, column: amount, type: bigint,
                   up: "amount::bigint", down: "amount::integer"}
"""


def timed(conn: psycopg.Connection, query: str) -> tuple[float, object]:
    started = time.perf_counter()
    cursor = conn.execute(query)
    row = cursor.fetchone() if cursor.description else None
    return time.perf_counter() - started, row


def one_size(url: str, rows: int, backfill: bool) -> dict[str, object]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench")
        conn.execute(
            "CREATE TABLE bench (id bigint PRIMARY KEY, email text, nickname text, amount integer,"
            " created timestamptz DEFAULT now()) WITH (autovacuum_enabled = false)"
        )
        conn.execute(
            "INSERT INTO bench (id, email, nickname, amount)"
            " SELECT g, 'user' || g || '@example.org',"
            " CASE WHEN g %% 3 = 0 THEN NULL ELSE 'nick' || g END, g FROM generate_series(1, %s) g",
            (rows,),
        )
        reltuples = conn.execute(
            "SELECT reltuples FROM pg_class WHERE relname = 'bench'"
        ).fetchone()
        explain_s, plan = timed(conn, "EXPLAIN (FORMAT JSON) SELECT 1 FROM bench")
        planner_rows = plan[0][0]["Plan"]["Plan Rows"]  # type: ignore[index]
        sample_started = time.perf_counter()
        sample = sample_table(conn, "public", "bench")
        sample_s = time.perf_counter() - sample_started
        scan_s, _ = timed(conn, "SELECT count(*) FROM bench")
        index_s, _ = timed(conn, "CREATE INDEX CONCURRENTLY bench_nick ON bench (nickname)")
        out: dict[str, object] = {
            "rows": rows,
            "server_version": conn.info.server_version,
            "reltuples_before": reltuples[0] if reltuples else None,
            "planner_rows": planner_rows,
            "planner_ms": round(explain_s * 1000, 1),
            "sample_rows": sample.rows.rows,
            "sample_source": sample.rows.source,
            "sample_ms": round(sample_s * 1000, 1),
            "pages": sample.pages,
            "full_scan_ms": round(scan_s * 1000, 1),
            "scan_factor": round(scan_s / (sample.pages * sample.seconds_per_page), 2)
            if sample.seconds_per_page and sample.pages
            else None,
            "index_build_ms": round(index_s * 1000, 1),
            "index_factor": round(index_s / (sample.pages * sample.seconds_per_page), 2)
            if sample.seconds_per_page and sample.pages
            else None,
        }
    if backfill and sample.seconds_per_row:
        settings = Settings()
        engine = Engine(url, settings, backfill=table_backfill(url, settings), sink=None)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "0001_bench.yaml"
            path.write_text(MIGRATION)
            migration = load(str(path))
            engine.apply(migration, through="expand")
            started = time.perf_counter()
            engine.apply(migration, through="backfill")
            backfill_s = time.perf_counter() - started
            engine.rollback()
        out["backfill_ms"] = round(backfill_s * 1000)
        out["backfill_factor"] = round(backfill_s / (rows * sample.seconds_per_row), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default="embedded")
    parser.add_argument("--rows", type=int, nargs="+", default=[50_000, 1_000_000])
    parser.add_argument("--backfill", action="store_true")
    args = parser.parse_args()
    with start_server(args.server) as server:
        url = server.create_database("bench")
        for rows in args.rows:
            print(json.dumps(one_size(url, rows, args.backfill)), flush=True)


if __name__ == "__main__":
    main()
