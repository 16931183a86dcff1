"""The HTML report's chart: one SVG, a panel per run on shared axes (seconds since the run's
traffic began; latency on a log scale), every app query a dot, the slowest query in flight
as a band, failed queries as crosses, the phases shaded and the markers drawn as lines."""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Callable, Sequence

from expandcontract.demo.model import Marker, Run, worst_in_flight

COLORS = {"naive": "#c92a2a", "ec": "#2b8a3e"}
NEUTRAL = "#495057"
MARKER_COLORS = {"phase": "#1864ab", "throttle": "#e8590c", "app": "#5f3dc4", "blocker": NEUTRAL}
PHASE_FILLS = ("#e7f5ff", "#fff4e6", "#f3f0ff", "#ebfbee", "#fff0f6")
WIDTH, LEFT, RIGHT, PANEL, GAP, TOP = 960, 78, 20, 230, 64, 58
PLOT = WIDTH - LEFT - RIGHT
FAILED = "#e03131"


def chart_svg(runs: Sequence[Run]) -> str:
    span = max((run.duration_s for run in runs), default=0.0) or 1.0
    latencies = [q.ms for run in runs for q in run.queries if q.ms > 0]
    low = 10 ** math.floor(math.log10(min(latencies))) if latencies else 0.1
    high = 10 ** math.ceil(math.log10(max(latencies))) if latencies else 1000.0
    high = max(high, low * 10)
    height = TOP + len(runs) * (PANEL + GAP) - 20
    out = [
        f'<svg viewBox="0 0 {WIDTH} {height}" role="img" '
        'aria-label="app query latency over time, one panel per run">',
        legend(),
    ]
    for index, run in enumerate(runs):
        out.append(panel(run, TOP + index * (PANEL + GAP), span, low, high))
    out.append("</svg>")
    return "".join(out)


def legend() -> str:
    y = 16
    return (
        f'<g class="legend"><circle cx="{LEFT + 6}" cy="{y - 4}" r="3" fill="{NEUTRAL}"/>'
        f'<text x="{LEFT + 14}" y="{y}">one app query (start, latency)</text>'
        f'<line x1="{LEFT + 214}" x2="{LEFT + 240}" y1="{y - 4}" y2="{y - 4}" '
        f'stroke="{NEUTRAL}" stroke-opacity="0.35" stroke-width="6"/>'
        f'<text x="{LEFT + 248}" y="{y}">slowest query running at that moment</text>'
        f'<path d="M{LEFT + 490},{y - 8}l8,8m0,-8l-8,8" stroke="{FAILED}" stroke-width="2"/>'
        f'<text x="{LEFT + 504}" y="{y}">failed query</text>'
        f'<rect x="{LEFT + 600}" y="{y - 10}" width="24" height="11" fill="#adb5bd" '
        'fill-opacity="0.5"/>'
        f'<text x="{LEFT + 630}" y="{y}">report job holds the table</text></g>'
    )


def panel(run: Run, top: float, span: float, low: float, high: float) -> str:
    color = COLORS.get(run.name, NEUTRAL)
    scale = math.log10(high) - math.log10(low)

    def x(t: float) -> float:
        return LEFT + max(0.0, min(1.0, t / span)) * PLOT

    def y(ms: float) -> float:
        ratio = (math.log10(max(ms, low)) - math.log10(low)) / scale
        return top + PANEL - max(0.0, min(1.0, ratio)) * PANEL

    s = run.summary()
    out = [
        f'<g data-run="{html.escape(run.name)}">',
        f'<text class="title" x="{LEFT}" y="{top - 10:.1f}" fill="{color}" font-size="14" '
        'font-weight="600">'
        f"{html.escape(run.title)}</text>",
        f'<text x="{LEFT + PLOT}" y="{top - 10:.1f}" text-anchor="end" class="small">slowest '
        f"{s['max_stall_ms']:,.0f} ms · p99 {s['p99_ms']:,.1f} ms · {s['errors']:,} errors · "
        f"{s['queries']:,} queries</text>",
        f'<rect x="{LEFT}" y="{top}" width="{PLOT}" height="{PANEL}" fill="#fff" '
        'stroke="#dee2e6"/>',
        *phase_bands(run.markers, x, top),
        *report_hold(run.markers, x, top),
        *grid(low, high, y),
        *time_ticks(span, x, top),
        *queries(run, span, x, y, color),
        *marker_lines(run.markers, x, top),
        "</g>",
    ]
    return "".join(out)


def phase_bands(markers: Sequence[Marker], x: Callable[[float], float], top: float) -> list[str]:
    """Each phase (or naive statement) shaded up to the next one, named when there is room."""
    out: list[str] = []
    steps = [m for m in markers if m.kind in ("phase", "end")]
    for i, (start, end) in enumerate(itertools.pairwise(steps)):
        x0, x1 = x(start.at_s), max(x(end.at_s), x(start.at_s) + 2)
        out.append(
            f'<rect x="{x0:.1f}" y="{top}" width="{x1 - x0:.1f}" height="{PANEL}" '
            f'fill="{PHASE_FILLS[i % len(PHASE_FILLS)]}"><title>{html.escape(start.label)}'
            "</title></rect>"
        )
        if x1 - x0 > 7 * len(start.label) + 8:
            out.append(
                f'<text x="{x0 + 5:.1f}" y="{top + 46}" class="band">'
                f"{html.escape(start.label)}</text>"
            )
    return out


def report_hold(markers: Sequence[Marker], x: Callable[[float], float], top: float) -> list[str]:
    start = next((m.at_s for m in markers if m.key == "R"), None)
    end = next((m.at_s for m in markers if m.key == "r"), None)
    if start is None or end is None:
        return []
    x0, x1 = x(start), x(end)
    return [
        f'<rect x="{x0:.1f}" y="{top + 18}" width="{x1 - x0:.1f}" height="13" fill="#adb5bd" '
        'fill-opacity="0.5"/>'
        f'<text x="{x0 + 4:.1f}" y="{top + 28}" class="small">report job holds the table</text>'
    ]


def grid(low: float, high: float, y: Callable[[float], float]) -> list[str]:
    out = []
    decade = low
    while decade <= high * 1.0001:
        yy = y(decade)
        label = f"{decade / 1000:g} s" if decade >= 1000 else f"{decade:g} ms"
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + PLOT}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e9ecef"/>'
            f'<text x="{LEFT - 8}" y="{yy + 4:.1f}" text-anchor="end">{label}</text>'
        )
        decade *= 10
    return out


def time_ticks(span: float, x: Callable[[float], float], top: float) -> list[str]:
    step = next((s for s in (0.5, 1, 2, 5, 10, 20, 30, 60) if span / s <= 12), 60.0)
    out = []
    for n in range(int(span / step + 1e-9) + 1):
        out.append(
            f'<text x="{x(n * step):.1f}" y="{top + PANEL + 16:.1f}" text-anchor="middle">'
            f"{n * step:g} s</text>"
        )
    return out


def queries(
    run: Run,
    span: float,
    x: Callable[[float], float],
    y: Callable[[float], float],
    color: str,
) -> list[str]:
    """The band of the slowest query in flight, then one dot per query (one per pixel)."""
    out = []
    columns = PLOT // 2
    worst = worst_in_flight(run.queries, span, columns)
    points = [
        f"{LEFT + (i + 0.5) * PLOT / columns:.1f},{y(v):.1f}"
        for i, v in enumerate(worst)
        if v is not None
    ]
    if points:
        out.append(
            f'<polyline points="{" ".join(points)}" fill="none" stroke="{color}" '
            'stroke-opacity="0.35" stroke-width="6" stroke-linejoin="round"/>'
        )
    seen: set[tuple[int, int, bool]] = set()
    for q in run.queries:
        failed = q.error is not None
        spot = (round(x(q.start_s)), round(y(q.ms)), failed)
        if spot in seen:
            continue
        seen.add(spot)
        if failed:
            out.append(
                f'<path d="M{spot[0] - 4},{spot[1] - 4}l8,8m0,-8l-8,8" stroke="{FAILED}" '
                f'stroke-width="2"><title>{html.escape(q.error or "")}</title></path>'
            )
        else:
            out.append(f'<circle cx="{spot[0]}" cy="{spot[1]}" r="1.6" fill="{color}"/>')
    return out


def marker_lines(markers: Sequence[Marker], x: Callable[[float], float], top: float) -> list[str]:
    """A dashed line per marker, its key on top (side by side when they crowd)."""
    out: list[str] = []
    free_from = 0.0  # where the next key may start without covering the previous one
    for m in markers:
        if m.kind == "end" or m.key == "r":
            continue
        xx = x(m.at_s)
        key_x = max(xx + 3, free_from)
        free_from = key_x + 9
        color = MARKER_COLORS.get(m.kind, NEUTRAL)
        out.append(
            f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{top}" y2="{top + PANEL}" stroke="{color}" '
            'stroke-dasharray="3,3" stroke-opacity="0.7"/>'
            f'<text class="key" x="{key_x:.1f}" y="{top + 12}" fill="{color}" font-size="11" '
            'font-weight="700">'
            f"{html.escape(m.key)}<title>{html.escape(m.label)}</title></text>"
        )
    return out
