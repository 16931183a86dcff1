"""Verifier benchmark: ``ec verify`` of a 5-operation migration (rename, type change, NOT NULL,
index, added column) with 2,000 seed rows per table, against the bare migration on the same
data, on one server in one run.

    .venv/bin/python bench/verify.py [--rows 2000] [--server embedded|local|container|...]

The issue's target is "seconds, not minutes" on the embedded server.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from expandcontract.config import Settings  # noqa: E402
from expandcontract.engine.api import Engine  # noqa: E402
from expandcontract.engine.migration import load  # noqa: E402
from expandcontract.servers import start_server  # noqa: E402
from expandcontract.servers.base import PostgresServer  # noqa: E402
from expandcontract.verify.api import verify_backfill, verify_migration  # noqa: E402
from tests.verify.apps import shop_v1, shop_v2  # noqa: E402

MIGRATION = ROOT / "tests" / "verify" / "apps" / "shop_good.yaml"


def bare_migration(server: PostgresServer, rows: int) -> float:
    """create_all + the same number of rows (set-based INSERTs) + apply through contract."""
    name = f"bench_bare_{uuid.uuid4().hex[:8]}"
    url = server.create_database(name)
    try:
        from expandcontract.verify.base import create_all

        create_all(url, shop_v1.metadata, "public")
        with server.connect(name) as conn:
            conn.execute(
                "INSERT INTO users (email, nickname, amount) SELECT 'u' || g, 'n' || g, g"
                " FROM generate_series(1, %s) g",
                (rows,),
            )
            conn.execute(
                "INSERT INTO orders (user_id, note) SELECT g, 'x' FROM generate_series(1, %s) g",
                (rows,),
            )
            conn.execute("ANALYZE")
        settings = Settings()
        engine = Engine(url, settings, backfill=verify_backfill(url, settings), sink=None)
        started = time.perf_counter()
        engine.apply(load(MIGRATION), through="contract")
        return time.perf_counter() - started
    finally:
        server.drop_database(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--server", default="embedded")
    args = parser.parse_args()

    started = time.perf_counter()
    server = start_server(args.server)
    start_s = time.perf_counter() - started
    try:
        bare_s = bare_migration(server, args.rows)
        results = []
        for rows in (args.rows // 10, args.rows):
            t0 = time.perf_counter()
            report = verify_migration(
                MIGRATION, old=shop_v1.metadata, new=shop_v2.Base, server=server, rows=rows
            )
            elapsed = time.perf_counter() - t0
            statements = sum(
                int(c.detail.split()[0]) for c in report.checks if c.kind == "dynamic" and c.ok
            )
            results.append((rows, elapsed, report.compatible, len(report.checks), statements))
    finally:
        server.stop()

    print(f"server: {args.server} (started in {start_s:.2f} s); migration: {MIGRATION.name}")
    print(f"{'measurement':<44} {'seconds':>8} {'ratio':>7}")
    print(f"{'bare migration, expand..contract':<44} {bare_s:>8.2f} {1.0:>7.2f}")
    for rows, elapsed, compatible, checks, statements in results:
        label = f"ec verify, {rows:,} seed rows/table"
        print(f"{label:<44} {elapsed:>8.2f} {elapsed / bare_s:>7.1f}")
        print(f"    compatible={compatible}, {checks} checks, {statements:,} workload statements")


if __name__ == "__main__":
    main()
