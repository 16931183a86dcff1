"""``ec demo``: the same schema change made naively and through ec, side by side, measured.

One throwaway server, two databases cloned from one seeded table, the same app traffic and the
same long-running report job in both runs; see scenario.py for the change and the trap.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from collections.abc import Callable
from typing import Any

from expandcontract.demo import scenario
from expandcontract.demo.model import Run
from expandcontract.servers import start_server

SEED_DB, NAIVE_DB, EC_DB = "ec_demo_seed", "ec_demo_naive", "ec_demo_ec"


@dataclasses.dataclass
class DemoResult:
    server: str
    server_version: int
    rows: int
    runs: list[Run]
    timings_s: dict[str, float]  # server start, seeding, each run
    final_schema: dict[str, Any]  # per run: what the table looks like afterwards
    clients: int = scenario.CLIENTS
    lock_timeout_ms: int = scenario.LOCK_TIMEOUT_MS
    measured_at: str = ""  # when the runs were made, UTC

    def run(self, name: str) -> Run:
        return next(r for r in self.runs if r.name == name)

    def as_json(self, *, queries: bool = False) -> dict[str, Any]:
        """Everything measured; ``queries=True`` adds every app query (the HTML report)."""
        return {
            "server": self.server,
            "server_version": self.server_version,
            "rows": self.rows,
            "clients": self.clients,
            "report_job_s": scenario.REPORT_S,
            "lock_timeout_ms": self.lock_timeout_ms,
            "runs": {run.name: run.as_json(queries=queries) for run in self.runs},
            "final_schema": self.final_schema,
            "timings_s": {k: round(v, 2) for k, v in self.timings_s.items()},
            "measured_at": self.measured_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DemoResult:
        """A result back from ``as_json(queries=True)``: re-render a saved HTML report's data."""
        return cls(
            server=data["server"],
            server_version=data["server_version"],
            rows=data["rows"],
            runs=[Run.from_json(run) for run in data["runs"].values()],
            timings_s=dict(data["timings_s"]),
            final_schema=data["final_schema"],
            clients=data["clients"],
            lock_timeout_ms=data["lock_timeout_ms"],
            measured_at=data.get("measured_at", ""),
        )


def run_demo(
    server_kind: str = "auto",
    *,
    rows: int = scenario.TABLE_ROWS,
    lock_timeout_ms: int = scenario.LOCK_TIMEOUT_MS,
    say: Callable[[str], None] = print,
) -> DemoResult:
    """Start a throwaway server, seed it, run the change naively and through ec under the
    same traffic, and return what was measured. The server is gone afterwards."""
    clock = time.perf_counter()
    timings: dict[str, float] = {}
    measured_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    server = start_server(server_kind)
    try:
        version = server.server_version_num
        lap("server")
        say(f"started a throwaway PostgreSQL {version // 10000} ({server.kind})")
        scenario.seed(server.create_database(SEED_DB), rows)
        urls = {
            "naive": server.create_database(NAIVE_DB, template=SEED_DB),
            "ec": server.create_database(EC_DB, template=SEED_DB),
        }
        lap("seed")
        clients = scenario.CLIENTS
        say(f"seeded orders ({rows:,} rows) twice; {clients} app clients query it in each run")
        say("the change: orders.amount int -> bigint, customer_id NOT NULL, an index")
        hold = f"{scenario.REPORT_S:g} s"
        say(f"the trap: a report job holds the table for {hold} as the change starts")
        say("naive run: plain DDL, no lock_timeout ...")
        naive = scenario.run_naive(urls["naive"], rows)
        lap("naive")
        say("ec run: expand, backfill, switch, contract ...")
        ec = scenario.run_ec(urls["ec"], rows, lock_timeout_ms)
        lap("ec")
        final = {name: scenario.final_schema(url) for name, url in urls.items()}
    finally:
        server.stop()
    return DemoResult(
        server.kind,
        version,
        rows,
        [naive, ec],
        timings,
        final,
        lock_timeout_ms=lock_timeout_ms,
        measured_at=measured_at,
    )
