"""The measured demo in a terminal: latency over time, one panel per run, and a summary.

Both panels share one time axis (seconds since the run's traffic began) and one log-scale
latency axis, so their heights and widths compare directly. Each column shows the slowest
query that was running at some moment of that column: a stall fills its whole span. The
markers of a run (report job, statements, phases) are tagged on its axis, failed queries are
marked on the row below it. Plain text with styles: it prints the same in a pipe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.text import Text

from expandcontract.demo.model import Run, failures_per_column, worst_in_flight

EIGHTHS = " ▁▂▃▄▅▆▇█"
LABEL_WIDTH = 7  # "100 ms " and the like; the axis line is the next column, then the bars
PANEL_ROWS = 8
STYLES = {"naive": "red", "ec": "green"}
SHOWN_KINDS = ("phase", "blocker", "app", "throttle")
SKIPPED_KEYS = ("|", "r")  # the change's end and the report's commit: in the summary


def render(runs: Sequence[Run], width: int = 80) -> list[Text]:
    """The chart and the summary table, ``width`` columns at most."""
    return [*render_chart(runs, width), Text(""), *render_summary(runs, width)]


def render_chart(runs: Sequence[Run], width: int = 80) -> list[Text]:
    columns = max(10, width - LABEL_WIDTH - 1)  # the label, the axis line, the bars
    span = max((run.duration_s for run in runs), default=0.0)
    values = {run.name: worst_in_flight(run.queries, span, columns) for run in runs}
    low, high = latency_range([v for series in values.values() for v in series if v])
    lines = [
        Text("App query latency: the slowest query running at each moment"[:width], style="bold"),
        Text("(both runs: same traffic, same axes; latency on a log scale)"[:width], style="dim"),
    ]
    for run in runs:
        lines.append(Text(run.title[:width], style=f"bold {STYLES.get(run.name, '')}"))
        lines += panel(values[run.name], low, high, STYLES.get(run.name, ""))
        lines.append(marker_axis(run, span, columns))
        lines.append(error_row(run, span, columns))
    lines.append(time_axis(span, columns))
    lines += legend(runs, width)
    return lines


def latency_range(values: Sequence[float]) -> tuple[float, float]:
    """From the decade below the fastest latency to the next 1, 2 or 5 x 10^n above the
    slowest (0.1 ms .. 1 s when there are none)."""
    positive = [v for v in values if v > 0]
    if not positive:
        return 0.1, 1000.0
    low = 10 ** math.floor(math.log10(min(positive)))
    top = max(positive)
    decade = 10 ** math.floor(math.log10(top))
    high = next(decade * m for m in (1, 2, 5, 10) if decade * m >= top)
    return low, max(high, low * 10)


def panel(values: Sequence[float | None], low: float, high: float, style: str) -> list[Text]:
    """PANEL_ROWS rows of bars, bottom-up, with the decade labels on the left."""
    span = math.log10(high) - math.log10(low)
    heights = [
        None
        if v is None
        else max(1, round((math.log10(max(v, low)) - math.log10(low)) / span * PANEL_ROWS * 8))
        for v in values
    ]
    labels = decade_labels(low, high)
    rows = []
    for row in reversed(range(PANEL_ROWS)):
        bars = "".join(" " if h is None else EIGHTHS[min(8, max(0, h - row * 8))] for h in heights)
        line = Text(f"{labels.get(row, ''):>{LABEL_WIDTH - 1}} ┤", style="dim")
        line.append(bars, style=style)
        rows.append(line)
    return rows


def decade_labels(low: float, high: float) -> dict[int, str]:
    """Row (0 = bottom) -> the decade whose value falls in that row."""
    span = math.log10(high) - math.log10(low)
    labels: dict[int, str] = {}
    decade = low
    while decade <= high * 1.0001:
        row = min(PANEL_ROWS - 1, int((math.log10(decade) - math.log10(low)) / span * PANEL_ROWS))
        labels.setdefault(row, ms_label(decade))
        decade *= 10
    return labels


def ms_label(ms: float) -> str:
    if ms >= 1000:
        return f"{ms / 1000:g} s"
    return f"{ms:g} ms"


def column_of(at_s: float, span: float, columns: int) -> int:
    if span <= 0:
        return 0
    return min(columns - 1, max(0, int(at_s / span * columns)))


def marker_axis(run: Run, span: float, columns: int) -> Text:
    """The x axis of a panel, each marker's key at its moment (nudged right on a clash)."""
    cells = ["─"] * columns
    for marker in run.markers:
        if marker.kind not in SHOWN_KINDS or marker.key in SKIPPED_KEYS:
            continue
        column = column_of(marker.at_s, span, columns)
        while column < columns - 1 and cells[column] != "─":
            column += 1
        if cells[column] == "─":
            cells[column] = marker.key
    line = Text(" " * LABEL_WIDTH + "└", style="dim")
    for cell in cells:
        line.append(cell, style="dim" if cell == "─" else "bold cyan")
    return line


def error_row(run: Run, span: float, columns: int) -> Text:
    failed = failures_per_column(run.queries, span, columns)
    if not any(failed):
        return Text(f"{'errors':>{LABEL_WIDTH - 1}}  none", style="dim")
    line = Text(f"{'errors':>{LABEL_WIDTH - 1}}  ", style="dim")
    line.append("".join("x" if n else " " for n in failed).rstrip(), style="bold red")
    return line


def time_axis(span: float, columns: int) -> Text:
    """Seconds under the panels: a tick every 0.5, 1, 2, 5 ... s, at most eight."""
    step = next((s for s in (0.5, 1, 2, 5, 10, 20, 30, 60) if span / s <= 8), 60.0)
    cells = [" "] * columns
    for n in range(int(span / step + 1e-9) + 1 if span > 0 else 1):
        label = f"{n * step:g} s"
        column = column_of(n * step, span, columns)
        room = cells[max(0, column - 1) : column + len(label) + 1]
        if column + len(label) <= columns and all(c == " " for c in room):
            cells[column : column + len(label)] = list(label)
    return Text(" " * (LABEL_WIDTH + 1) + "".join(cells).rstrip(), style="dim")


def legend(runs: Sequence[Run], width: int) -> list[Text]:
    """What each key on a run's axis means, once per key, wrapped to ``width``."""
    lines: list[Text] = []
    for run in runs:
        entries: dict[str, str] = {}
        for marker in run.markers:
            if marker.kind in SHOWN_KINDS and marker.key not in SKIPPED_KEYS:
                entries.setdefault(marker.key, marker.label)
        current = f"{run.name}:"
        for key, label in entries.items():
            entry = f"{key} {label}"
            if len(current) + 3 + len(entry) > width - 2:
                lines.append(Text("  " + current, style="dim"))
                current = " " * len(run.name) + " "
            current = f"{current}  {entry}"
        lines.append(Text("  " + current, style="dim"))
    return lines


def render_summary(runs: Sequence[Run], width: int = 80) -> list[Text]:
    """Per run: the slowest query, p99, queries, errors, how long the change took."""
    summaries = [run.summary() for run in runs]
    rows = [
        ("slowest query (max stall)", [f"{s['max_stall_ms']:,.1f} ms" for s in summaries]),
        ("p99 latency", [f"{s['p99_ms']:,.2f} ms" for s in summaries]),
        ("queries over 100 ms", [f"{s['stalled_queries']:,}" for s in summaries]),
        ("queries", [f"{s['queries']:,}" for s in summaries]),
        ("errors", [f"{s['errors']:,}" for s in summaries]),
        ("the change took", [f"{s['change_s']:.2f} s" for s in summaries]),
    ]
    header = Text(f"{'':<27}", style="bold")
    for run in runs:
        header.append(f"{run.name:>16}", style=f"bold {STYLES.get(run.name, '')}")
    lines = [header]
    for label, cells in rows:
        line = Text(f"{label:<27}")
        for cell in cells:
            line.append(f"{cell:>16}")
        lines.append(line)
    for run, summary in zip(runs, summaries, strict=True):
        for error, count in summary["error_kinds"].items():
            lines.append(Text(f"{run.name} errors: {count} x {error}"[:width], style="red"))
    return lines
