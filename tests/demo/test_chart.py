"""The terminal chart: axes, markers, errors, widths, empty and short series."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from expandcontract.demo.chart import (
    EIGHTHS,
    LABEL_WIDTH,
    PANEL_ROWS,
    column_of,
    latency_range,
    render,
    render_chart,
    render_summary,
)
from expandcontract.demo.model import Query, Run
from tests.demo.runs import ec_run, naive_run

PLOT_START = LABEL_WIDTH + 1  # the first column of bars, after the label and the axis


def plain(lines: list) -> list[str]:  # type: ignore[type-arg]
    return [line.plain for line in lines]


def panels(lines: list[str]) -> list[list[str]]:
    """The bar rows of each panel (the rows that carry the axis tick)."""
    rows = [line for line in lines if len(line) > LABEL_WIDTH and line[LABEL_WIDTH] == "┤"]
    return [rows[i : i + PANEL_ROWS] for i in range(0, len(rows), PANEL_ROWS)]


def test_fits_80_columns_and_prints_the_same_in_a_pipe() -> None:
    lines = render([naive_run(), ec_run()], width=80)
    assert all(len(line.plain) <= 80 for line in lines)
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=False)
    for line in lines:
        console.print(line)
    text = out.getvalue()
    assert "\x1b[" not in text  # no escape codes when not a terminal
    assert "naive: plain DDL" in text and "ec: expand" in text


@pytest.mark.parametrize("width", [60, 80, 100])
def test_every_line_fits_the_width_given(width: int) -> None:
    assert all(len(s) <= width for s in plain(render([naive_run(), ec_run()], width=width)))


def test_the_shared_latency_axis_has_decade_labels() -> None:
    lines = plain(render_chart([naive_run(), ec_run()]))
    labels = [line[:LABEL_WIDTH].strip() for line in panels(lines)[0]]
    assert "1 s" in labels and "100 ms" in labels and "1 ms" in labels
    assert "0.1 ms" in labels  # the decade below the fastest query (0.3 ms)
    assert labels == [line[:LABEL_WIDTH].strip() for line in panels(lines)[1]]


def test_latency_range_spans_whole_decades_below_and_1_2_5_above() -> None:
    assert latency_range([0.3, 1500.0]) == (0.1, 2000.0)
    assert latency_range([0.5, 180.0]) == (0.1, 200.0)
    assert latency_range([2.0, 2.0]) == (1.0, 10.0)
    assert latency_range([]) == (0.1, 1000.0)


def test_the_stall_is_a_full_height_block_over_its_span_only() -> None:
    width = 80
    columns = width - PLOT_START
    naive_panel, ec_panel = panels(plain(render_chart([naive_run(), ec_run()], width)))
    top_row = naive_panel[0][PLOT_START:]
    # The naive stall, 1.0 .. 2.5 s of an 8 s axis, reaches the top row, nothing else does.
    stall = range(column_of(1.0, 8.0, columns), column_of(2.5, 8.0, columns))
    assert all(top_row[c] != " " for c in stall)
    assert top_row.strip() == top_row[stall.start : stall.stop + 1].strip()
    assert ec_panel[0][PLOT_START:].strip() == ""  # 200 ms stays below the 2 s top row
    assert "█" in naive_panel[-1]  # the fast queries fill the bottom row


def test_markers_sit_on_their_moment_and_do_not_overwrite_each_other() -> None:
    width = 80
    columns = width - PLOT_START
    lines = plain(render_chart([naive_run(), ec_run()], width))
    axes = [line for line in lines if "└" in line]
    naive_axis, ec_axis = (line[PLOT_START:] for line in axes)
    assert naive_axis.index("1") == column_of(1.0, 8.0, columns)
    # "2" and "3" share a moment: side by side, in order.
    assert naive_axis.index("3") == naive_axis.index("2") + 1
    assert ec_axis.index("E") == column_of(1.0, 8.0, columns)
    for key in "RBTDSC":
        assert key in ec_axis
    assert "|" not in naive_axis and "r" not in naive_axis  # end and report commit: not tagged


def test_errors_are_marked_where_they_happened() -> None:
    width = 80
    columns = width - PLOT_START
    lines = plain(render_chart([naive_run(), ec_run()], width))
    naive_errors, ec_errors = (line for line in lines if line.strip().startswith("errors"))
    assert naive_errors.index("x") - PLOT_START == column_of(2.6, 8.0, columns)
    assert naive_errors.count("x") == 1  # both failures fall in one column
    assert ec_errors.strip() == "errors  none"


def test_the_legend_names_every_key_of_each_run() -> None:
    text = "\n".join(plain(render_chart([naive_run(), ec_run()])))
    for entry in ("1 amount TYPE bigint", "R report job", "E expand", "T backfill pauses"):
        assert entry in text
    assert "D app's new version deployed" in text


def test_time_axis_ticks_are_seconds() -> None:
    lines = plain(render_chart([naive_run(), ec_run()]))
    axis = next(line for line in lines if "0 s" in line)
    assert axis.index("0 s") == PLOT_START
    assert "2 s" in axis and "6 s" in axis
    assert all(line.index("└") == LABEL_WIDTH for line in lines if "└" in line)


def test_empty_and_short_series_render() -> None:
    empty = Run("naive", "naive: nothing measured", [], [], 0.0, 0.0)
    short = Run("ec", "ec: one query", [Query(0.0, 0.7)], [], 0.1, 0.1)
    for runs in ([empty], [short], [empty, short], []):
        lines = plain(render(runs))
        assert all(len(line) <= 80 for line in lines)
    bars = panels(plain(render_chart([empty, short])))
    assert all(row[PLOT_START:].strip() == "" for row in bars[0])  # nothing measured: blank
    assert any(set(row[PLOT_START:].strip()) & set(EIGHTHS[1:]) for row in bars[1])


def test_summary_table_shows_each_runs_measured_numbers() -> None:
    runs = [naive_run(), ec_run()]
    text = "\n".join(plain(render_summary(runs)))
    naive, ec = (run.summary() for run in runs)
    assert f"{naive['max_stall_ms']:,.1f} ms" in text and f"{ec['max_stall_ms']:,.1f} ms" in text
    errors_row = next(line for line in text.splitlines() if line.startswith("errors"))
    assert errors_row.split()[1:] == ["2", "0"]
    assert "naive errors: 2 x FeatureNotSupported" in text
    assert all(len(line) <= 80 for line in text.splitlines())
