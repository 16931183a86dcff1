"""Prometheus text exposition of the progress tracker on ``--metrics-port`` (stdlib only)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from expandcontract.backfill.progress import ProgressTracker

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
)  # fmt: skip


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(snapshot: dict[str, Any]) -> str:
    data = {**snapshot, "last_batch_s": snapshot.get("last_batch_ms", 0.0) / 1000}
    data["throttled"] = 1 if snapshot.get("throttled") else 0
    labels = f'name="{_escape(str(snapshot["name"]))}",table="{_escape(str(snapshot["table"]))}"'
    lines: list[str] = []
    for metric, kind, help_text, field in METRICS:
        value = data.get(field)
        if value is None:
            continue
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}"]
        lines.append(f"{metric}{{{labels}}} {float(value):g}")
    reason = snapshot.get("throttle_reason")
    if reason:
        lines.append("# HELP ec_backfill_throttle_info Why the backfill is paused.")
        lines.append("# TYPE ec_backfill_throttle_info gauge")
        lines.append(f'ec_backfill_throttle_info{{{labels},reason="{_escape(reason)}"}} 1')
    return "\n".join(lines) + "\n"


class MetricsServer:
    """``with MetricsServer(tracker, port):`` serves /metrics from a daemon thread."""

    def __init__(self, tracker: ProgressTracker, port: int, host: str = "127.0.0.1") -> None:
        tracker_ref = tracker

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] not in ("/metrics", "/"):
                    self.send_error(404)
                    return
                body = render(tracker_ref.snapshot()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> MetricsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
