"""Prometheus text exposition of the progress tracker on ``--metrics-port`` (stdlib only).

``add_backfill`` writes one backfill's samples into an exposition: the standalone backfill
(labels ``name``, ``table``) and the engine-wide registry (plus ``migration``) share it, so
the metric names are the same wherever a backfill runs."""

from __future__ import annotations

from typing import Any

from expandcontract.backfill.progress import ProgressTracker
from expandcontract.metrics.exposition import Exposition, Labels
from expandcontract.metrics.server import MetricsHTTPServer

# (metric, type, help, snapshot field)
METRICS = (
    ("ec_backfill_rows_scanned_total", "counter", "Rows visited by batches.", "rows_scanned"),
    ("ec_backfill_rows_updated_total", "counter", "Rows changed by batches.", "rows_updated"),
    ("ec_backfill_stragglers_total", "counter", "Rows fixed by the verification sweep.",
     "stragglers"),
    ("ec_backfill_rows_estimated", "gauge", "Estimated rows in the table.", "rows_total_estimate"),
    ("ec_backfill_batches_total", "counter", "Committed batches.", "batches"),
    ("ec_backfill_batch_size_rows", "gauge", "Current batch size.", "batch_size"),
    ("ec_backfill_batch_duration_seconds", "gauge", "Duration of the last batch.", "last_batch_s"),
    ("ec_backfill_rows_per_second", "gauge", "Smoothed scan rate.", "rows_per_second"),
    ("ec_backfill_throttled", "gauge", "1 while paused by a throttle.", "throttled"),
    ("ec_backfill_throttle_seconds_total", "counter", "Time spent paused.", "throttle_s"),
    ("ec_backfill_splits_total", "counter", "Batches split after a timeout.", "splits"),
    ("ec_backfill_retries_total", "counter", "Batches retried after an error.", "retries"),
    ("ec_backfill_eta_seconds", "gauge", "Estimated time to completion.", "eta_s"),
    ("ec_backfill_rate_cap_rows_per_second", "gauge", "Rows/s the run is paced to (a cap).",
     "rate_cap"),
)  # fmt: skip


def add_backfill(out: Exposition, snapshot: dict[str, Any], labels: Labels) -> None:
    """The samples of one tracker snapshot, with ``labels`` on each."""
    data = {**snapshot, "last_batch_s": (snapshot.get("last_batch_ms") or 0.0) / 1000}
    data["throttled"] = 1 if snapshot.get("throttled") else 0
    for metric, kind, help_text, field in METRICS:
        value = data.get(field)
        if value is not None:  # no ETA before a rate is known
            out.add(metric, kind, help_text, labels, float(value))
    reason = snapshot.get("throttle_reason")
    if reason:
        out.add(
            "ec_backfill_throttle_info", "gauge", "Why the backfill is paused (1 while paused).",
            {**labels, "reason": reason}, 1,
        )  # fmt: skip


def render(snapshot: dict[str, Any]) -> str:
    out = Exposition()
    add_backfill(out, snapshot, {"name": snapshot["name"], "table": snapshot["table"]})
    return out.text()


class MetricsServer(MetricsHTTPServer):
    """``with MetricsServer(tracker, port):`` serves /metrics from a daemon thread."""

    def __init__(self, tracker: ProgressTracker, port: int, host: str = "127.0.0.1") -> None:
        super().__init__(lambda: render(tracker.snapshot()), port, host)

    def __enter__(self) -> MetricsServer:
        super().__enter__()
        return self
