"""Hand-made runs for the renderer tests: shapes like the measured demo's, no database."""

from __future__ import annotations

from expandcontract.demo.measured import DemoResult
from expandcontract.demo.model import Marker, Query, Run


def steady(start_s: float, end_s: float, every_s: float = 0.05, ms: float = 0.5) -> list[Query]:
    count = round((end_s - start_s) / every_s)
    return [Query(start_s + i * every_s, ms) for i in range(count)]


def naive_run() -> Run:
    """Fast queries, one 1.5 s stall from 1.0 s, two failures at 2.6 s, 4 s long."""
    queries = [
        *steady(0.0, 1.0),
        Query(1.0, 1500.0),
        *steady(2.5, 4.0),
        Query(2.6, 0.4, "FeatureNotSupported: cached plan must not change result type"),
        Query(2.6, 0.3, "FeatureNotSupported: cached plan must not change result type"),
    ]
    markers = [
        Marker(0.9, "R", "report job holds orders for 1.5 s", "blocker"),
        Marker(1.0, "1", "amount TYPE bigint", detail="ALTER TABLE orders ..."),
        Marker(2.4, "r", "report job ends", "blocker"),
        Marker(2.5, "2", "SET NOT NULL"),
        Marker(2.5, "3", "CREATE INDEX"),
        Marker(2.6, "|", "change done", "end"),
    ]
    return Run(
        "naive", "naive: plain DDL", sorted(queries, key=lambda q: q.start_s), markers, 4.0, 1.6
    )


def ec_run() -> Run:
    """Fast queries with two 200 ms waits in expand, 8 s long, no failures."""
    queries = sorted(
        [*steady(0.0, 8.0), Query(1.1, 200.0), Query(1.5, 200.0)], key=lambda q: q.start_s
    )
    markers = [
        Marker(0.9, "R", "report job holds orders for 1.5 s", "blocker"),
        Marker(1.0, "E", "expand"),
        Marker(2.4, "r", "report job ends", "blocker"),
        Marker(2.6, "B", "backfill"),
        Marker(4.0, "T", "backfill pauses (throttled)", "throttle"),
        Marker(7.0, "D", "app's new version deployed", "app", "public_0002"),
        Marker(7.1, "S", "switch"),
        Marker(7.1, "C", "contract"),
        Marker(7.3, "|", "change done", "end"),
    ]
    return Run("ec", "ec: expand, backfill, switch, contract", queries, markers, 8.0, 6.3)


def result(*runs: Run) -> DemoResult:
    return DemoResult(
        server="embedded",
        server_version=180001,
        rows=1000,
        runs=list(runs) or [naive_run(), ec_run()],
        timings_s={"server": 1.0, "seed": 0.5, "naive": 4.0, "ec": 8.0},
        final_schema={},
    )
