"""What the measured demo records, and the numbers derived from it.

A run is every app query it timed (start, latency, error) and the moments that matter
(markers: the report job, each naive statement, each ec phase). Every figure the demo prints
or draws is computed here from those records; nothing is estimated.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from typing import Any


@dataclasses.dataclass(frozen=True)
class Query:
    """One app query: when it started (seconds since the run began), how long it took.
    Recorded at the resolution the report keeps (see :func:`measured_query`), so a run read
    back from the report's data gives the same numbers as the run itself."""

    start_s: float
    ms: float
    error: str | None = None

    @property
    def end_s(self) -> float:
        return self.start_s + self.ms / 1000


def measured_query(start_s: float, ms: float, error: str | None) -> Query:
    """A query at the report's resolution: start to 0.1 ms, latency to 0.01 ms."""
    return Query(round(start_s * 1000, 1) / 1000, round(ms, 2), error)


@dataclasses.dataclass(frozen=True)
class Marker:
    """A moment of the run. ``key`` is its one-character tag on the terminal chart's axis;
    ``kind`` is ``phase`` (a step of the change), ``blocker`` (the report job), ``app`` (a
    deployment), ``throttle`` (the backfill pauses) or ``end``; ``detail`` says more (the SQL)."""

    at_s: float
    key: str
    label: str
    kind: str = "phase"
    detail: str = ""


@dataclasses.dataclass
class Run:
    """One side of the comparison, as measured."""

    name: str  # "naive" | "ec"
    title: str
    queries: list[Query]
    markers: list[Marker]
    duration_s: float  # the whole run: warm-up, the change, the tail
    change_s: float  # from the change's first statement (or ec call) to its end
    notes: list[str] = dataclasses.field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        latencies = sorted(q.ms for q in self.queries)
        errors = [q.error for q in self.queries if q.error]
        return {
            "queries": len(latencies),
            "errors": len(errors),
            "max_stall_ms": round(latencies[-1], 1) if latencies else 0.0,
            "p50_ms": round(percentile(latencies, 50), 2),
            "p99_ms": round(percentile(latencies, 99), 2),
            "stalled_queries": sum(1 for ms in latencies if ms >= STALL_MS),
            "change_s": round(self.change_s, 2),
            "run_s": round(self.duration_s, 2),
            "error_kinds": dict(Counter(errors).most_common(3)),
        }

    def timeline(self, step_s: float = 0.1) -> list[dict[str, Any]]:
        """Per ``step_s`` slice: the queries that started in it, the slowest and the errors."""
        slices = max(1, math.ceil(self.duration_s / step_s))
        buckets: list[list[Query]] = [[] for _ in range(slices)]
        for query in self.queries:
            buckets[min(slices - 1, max(0, int(query.start_s / step_s)))].append(query)
        return [
            {
                "t": round(i * step_s, 3),
                "queries": len(bucket),
                "max_ms": round(max((q.ms for q in bucket), default=0.0), 2),
                "errors": sum(1 for q in bucket if q.error),
            }
            for i, bucket in enumerate(buckets)
        ]

    def as_json(self, *, queries: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            # Unrounded: a run read back from the report derives the very same summary.
            "duration_s": self.duration_s,
            "change_s": self.change_s,
            "summary": self.summary(),
            "markers": [dataclasses.asdict(m) for m in self.markers],
            "notes": self.notes,
            "timeline": self.timeline(),
        }
        if queries:  # compact: [start ms, latency ms, error or null]
            data["queries"] = [
                [round(q.start_s * 1000, 1), round(q.ms, 2), q.error] for q in self.queries
            ]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Run:
        """A run back from ``as_json(queries=True)`` (e.g. the data in an HTML report)."""
        return cls(
            name=data["name"],
            title=data["title"],
            queries=[Query(start / 1000, ms, error) for start, ms, error in data["queries"]],
            markers=[Marker(**m) for m in data["markers"]],
            duration_s=data["duration_s"],
            change_s=data["change_s"],
            notes=list(data["notes"]),
        )


# A query this slow is a stall a user notices (a page that hangs).
STALL_MS = 100.0


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = math.ceil(pct / 100 * len(sorted_values))
    return sorted_values[min(len(sorted_values) - 1, max(0, rank - 1))]


def worst_in_flight(queries: list[Query], span_s: float, columns: int) -> list[float | None]:
    """Per column of [0, span_s): the latency of the slowest query running at some moment
    of it, so a stall shows over its whole span, not only where it began; None when no
    query ran then."""
    worst: list[float | None] = [None] * columns
    if columns <= 0 or span_s <= 0:
        return worst
    width = span_s / columns
    for query in queries:
        first = int(query.start_s / width)
        last = min(columns - 1, int(query.end_s / width))
        for column in range(max(0, first), last + 1):
            current = worst[column]
            if current is None or query.ms > current:
                worst[column] = query.ms
    return worst


def failures_per_column(queries: list[Query], span_s: float, columns: int) -> list[int]:
    """Per column of [0, span_s): how many queries failed (their error came back) then."""
    failed = [0] * columns
    if columns <= 0 or span_s <= 0:
        return failed
    for query in queries:
        if query.error:
            column = int(query.end_s / (span_s / columns))
            if 0 <= column < columns:
                failed[column] += 1
    return failed
