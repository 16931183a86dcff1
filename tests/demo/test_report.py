"""The HTML report: one self-contained file with the measured data embedded."""

from __future__ import annotations

import re
from pathlib import Path

from expandcontract.demo import render_report, write_report
from expandcontract.demo.measured import DemoResult
from expandcontract.demo.model import Marker
from expandcontract.demo.report import read_report_data
from tests.demo.runs import ec_run, naive_run, result

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


def assert_self_contained(page: str) -> None:
    """Nothing to fetch: no linked resource, no network URL anywhere."""
    assert not EXTERNAL.search(page)
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"<(?:link|img|iframe|object|embed)\b", page, re.I)
    assert not re.search(r"<script(?![^>]*type=\"application/json\")", page)  # no code
    assert "@import" not in page and "url(" not in page


def test_report_is_one_self_contained_file(tmp_path: Path) -> None:
    path = write_report(result(), tmp_path / "demo.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert_self_contained(page)
    assert (
        page.count("<svg") == 1 and '<g data-run="naive">' in page and '<g data-run="ec">' in page
    )


def test_embedded_data_has_both_runs_series() -> None:
    data = read_report_data(render_report(result()))
    assert set(data["runs"]) == {"naive", "ec"}
    for run in (naive_run(), ec_run()):
        embedded = data["runs"][run.name]
        assert len(embedded["queries"]) == len(run.queries)
        assert embedded["summary"] == run.summary()
        assert [m["key"] for m in embedded["markers"]] == [m.key for m in run.markers]
    rebuilt = DemoResult.from_json(data)
    assert [r.summary() for r in rebuilt.runs] == [naive_run().summary(), ec_run().summary()]


def test_page_shows_each_runs_numbers_and_markers() -> None:
    page = render_report(result())
    assert "1,500 ms" in page and "200 ms" in page  # each run's slowest query
    assert "FeatureNotSupported: cached plan must not change result type" in page
    for label in ("expand", "backfill", "amount TYPE bigint", "report job holds the table"):
        assert label in page


def test_text_from_the_database_cannot_break_the_page() -> None:
    hostile = "</script><!-- <b>x</b> <script>alert(1)</script>"
    run = naive_run()
    run.markers.append(Marker(3.0, "X", hostile, detail=hostile))
    run.notes.append(hostile)
    page = render_report(result(run, ec_run()))
    assert "<b>x</b>" not in page and "alert(1)</script>" not in page
    assert page.count("</script>") == 1  # only the data tag's own end
    data = read_report_data(page)
    assert hostile in data["runs"]["naive"]["notes"]
    assert data["runs"]["naive"]["markers"][-1]["label"] == hostile
    assert_self_contained(page)
