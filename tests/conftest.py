"""Project-wide test settings. The ec_* fixtures come from expandcontract's own pytest plugin."""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["pytester"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """In CI (EC_NO_SKIP=1) a skipped test is a failure: nothing may pass by not running."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("EC_NO_SKIP") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under EC_NO_SKIP=1: {report.longrepr}"
