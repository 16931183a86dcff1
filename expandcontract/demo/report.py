"""The measured demo as one self-contained HTML file: inline SVG and CSS, no script, nothing
fetched, so it opens anywhere without a network. The measured data is embedded as JSON
(``<script type="application/json" id="ec-demo-data">``, never executed) for anyone who
wants to re-plot it."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from expandcontract.demo import scenario, traffic
from expandcontract.demo.model import Run
from expandcontract.demo.svg import COLORS, NEUTRAL, chart_svg

if TYPE_CHECKING:
    from expandcontract.demo.measured import DemoResult


CSS = """
:root { --ink: #212529; --muted: #6c757d; --line: #dee2e6; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: #f8f9fa; }
main { max-width: 1000px; margin: 0 auto; padding: 32px 20px 48px; }
h1 { font-size: 26px; margin: 0 0 6px; }
h2 { font-size: 18px; margin: 32px 0 8px; }
p.lede { color: var(--muted); margin: 0 0 24px; }
.cards { font-size: 0; }  /* two inline-block cards side by side, in any renderer */
.card { display: inline-block; vertical-align: top; width: 49%; margin-right: 2%;
  font-size: 15px; background: #fff; border: 1px solid var(--line); border-top: 5px solid;
  border-radius: 10px; padding: 16px 18px; }
.card:last-child { margin-right: 0; }
@media (max-width: 720px) { .card { width: 100%; margin: 0 0 12px; } }
.card h3 { margin: 0 0 10px; font-size: 15px; }
.big div { display: inline-block; vertical-align: top; margin-right: 32px; font-size: 30px;
  font-weight: 650; line-height: 1.1; }
.big span { display: block; font-size: 12px; font-weight: 400; color: var(--muted); }
.card table { margin-top: 12px; width: 100%; border-collapse: collapse; font-size: 13px; }
.card td { padding: 2px 0; border-top: 1px solid #f1f3f5; }
.card td:last-child { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap;
  padding-left: 12px; }
figure { margin: 24px 0 0; background: #fff; border: 1px solid var(--line); border-radius: 10px;
  padding: 12px 8px 4px; }
figcaption { color: var(--muted); font-size: 13px; padding: 4px 12px 8px; }
svg { width: 100%; height: auto; display: block; }
svg text { font: 12px system-ui, sans-serif; fill: #495057; }
svg .title { font-size: 14px; font-weight: 650; }
svg .key { font-size: 11px; font-weight: 700; }
svg .band { font-size: 11px; font-style: italic; fill: #868e96; }
svg .small { font-size: 10px; }
table.events { width: 100%; border-collapse: collapse; background: #fff; font-size: 13px;
  border: 1px solid var(--line); }
table.events th, table.events td { text-align: left; padding: 5px 10px;
  border-top: 1px solid var(--line); vertical-align: top; }
table.events td.t { font-variant-numeric: tabular-nums; white-space: nowrap; }
code, pre { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; background: #f1f3f5;
  border-radius: 4px; }
code { padding: 1px 4px; }
pre { padding: 8px 10px; overflow-x: auto; }
li { margin-bottom: 6px; }
ul { padding-left: 20px; }
"""


def write_report(result: DemoResult, path: str | Path) -> Path:
    """Write ``result`` as HTML to ``path``; returns the path."""
    target = Path(path)
    target.write_text(render_report(result), encoding="utf-8")
    return target


def render_report(result: DemoResult) -> str:
    runs: list[Run] = result.runs
    data = json.dumps(result.as_json(queries=True), separators=(",", ":"))
    # "<" as its JSON escape: the data can neither close its tag nor open a comment.
    data = data.replace("<", "\\u003c")
    when = html.escape(result.measured_at or "")
    lede = (
        f"PostgreSQL {result.server_version // 10000} ({html.escape(result.server)}), table "
        f"<code>orders</code> with {result.rows:,} rows, the same app traffic in both runs "
        f"({result.clients} clients reading and writing by primary key) and the "
        f"same report job holding the table as the change starts. Measured {when} by "
        "<code>ec demo</code>; every number below is from that run."
    )
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>ec demo: the same change, naive and through ec</title>",
        f"<style>{CSS}</style></head><body><main>",
        "<h1>The same schema change, naive and through ec</h1>",
        f'<p class="lede">{lede}</p>',
        '<section class="cards">',
        *(card(run) for run in runs),
        "</section>",
        "<figure>",
        chart_svg(runs),
        "<figcaption>Each dot is one app query (when it started, how long it took); the band "
        "is the slowest query running at each moment, so a stall covers its whole span. Red "
        "crosses are failed queries. Shaded: the phases of each run and the report job.",
        "</figcaption></figure>",
        "<h2>What happened, when</h2>",
        events_table(runs),
        "<h2>How it was run</h2>",
        how_it_ran(result),
        "<h2>Notes</h2><ul>",
        *(
            f"<li><b>{html.escape(run.name)}</b>: {html.escape(note)}</li>"
            for run in runs
            for note in run.notes
        ),
        "</ul>",
        f'<script type="application/json" id="ec-demo-data">{data}</script>',
        "</main></body></html>",
    ]
    return "\n".join(parts)


def how_it_ran(result: DemoResult) -> str:
    """The change, both ways, the app and the trap: the code that produced the numbers."""
    naive = "\n".join(f"{statement};" for _, _, statement in scenario.NAIVE)
    migration = yaml.safe_dump(scenario.CHANGE, sort_keys=False, width=88)
    items = [
        "<b>The change</b>: <code>orders.amount</code> integer &rarr; bigint, "
        "<code>orders.customer_id</code> NOT NULL and an index on it, made on two identical "
        "copies of the table.",
        "<b>naive</b>: one session, autocommit, no <code>lock_timeout</code>, what people "
        f"run:<pre>{html.escape(naive)}</pre>",
        "<b>ec</b>: this migration through ec's library API, <code>Engine.apply</code> "
        "(expand, backfill), the app's new version deployed, <code>Engine.switch</code>, "
        f"<code>Engine.complete</code> (contract); <code>lock_timeout</code> "
        f"{result.lock_timeout_ms} ms. {html.escape(scenario.TUNING_NOTE.capitalize())}."
        f"<pre>{html.escape(migration)}</pre>",
        f"<b>The app</b>: {result.clients} clients, each on its own connection, "
        f"{100 - round(traffic.WRITE_SHARE * 100)}% reads and "
        f"{round(traffic.WRITE_SHARE * 100)}% writes of random rows, back to back: "
        f"<code>{html.escape(traffic.READ)}</code> and "
        f"<code>{html.escape(traffic.WRITE)}</code>. psycopg's defaults (statements are "
        "prepared after five runs), no <code>statement_timeout</code>, no retries.",
        f"<b>The trap</b>: a report job reads the table in a transaction it keeps open for "
        f"{scenario.REPORT_S:g} s (<code>{html.escape(scenario.REPORT_QUERY)}</code>); each "
        f"change starts {scenario.LEAD_S:g} s after the report took its lock.",
    ]
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def card(run: Run) -> str:
    s = run.summary()
    color = COLORS.get(run.name, NEUTRAL)
    rows = [
        ("p99 latency", f"{s['p99_ms']:,.2f} ms"),
        ("median latency", f"{s['p50_ms']:,.2f} ms"),
        ("queries over 100 ms", f"{s['stalled_queries']:,}"),
        ("queries", f"{s['queries']:,}"),
        ("the change took", f"{s['change_s']:.2f} s"),
    ]
    rows += [(f"error: {kind}", f"{count:,}") for kind, count in s["error_kinds"].items()]
    table = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return (
        f'<div class="card" style="border-top-color:{color}"><h3>{html.escape(run.title)}</h3>'
        f'<div class="big"><div style="color:{color}">{s["max_stall_ms"]:,.0f} ms'
        "<span>slowest query (max stall)</span></div>"
        f'<div style="color:{color}">{s["errors"]:,}<span>errors</span></div></div>'
        f"<table>{table}</table></div>"
    )


def events_table(runs: list[Run]) -> str:
    rows = []
    for run in runs:
        for m in run.markers:
            detail = f"<br><code>{html.escape(m.detail)}</code>" if m.detail else ""
            rows.append(
                f"<tr><td>{html.escape(run.name)}</td><td class='t'>{m.at_s:.2f} s</td>"
                f"<td><b>{html.escape(m.key)}</b></td><td>{html.escape(m.label)}{detail}</td></tr>"
            )
    head = "<tr><th>run</th><th>at</th><th>key</th><th>what</th></tr>"
    return f'<table class="events">{head}{"".join(rows)}</table>'


DATA_TAG = re.compile(r'<script type="application/json" id="ec-demo-data">(.*?)</script>', re.S)


def read_report_data(text: str) -> dict[str, Any]:
    """The measured data embedded in a report written by :func:`write_report`."""
    found = DATA_TAG.search(text)
    if found is None:
        raise ValueError("no ec demo data in this file (not written by `ec demo --report`?)")
    data: dict[str, Any] = json.loads(found.group(1))
    return data
