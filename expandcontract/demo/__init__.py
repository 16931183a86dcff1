"""``ec demo``: the same schema change made naively and through ec under live app traffic,
measured and charted (``run_demo``), or the short tour (``run_tour``, ``ec demo --quick``)."""

from expandcontract.demo.chart import render
from expandcontract.demo.measured import DemoResult, run_demo
from expandcontract.demo.report import render_report, write_report
from expandcontract.demo.tour import run_tour

__all__ = ["DemoResult", "render", "render_report", "run_demo", "run_tour", "write_report"]
