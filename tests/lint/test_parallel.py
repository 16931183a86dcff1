"""Linting on several processes: forked children (or the executor when threads run) give the
serial results, failures in any process are reported, shares are balanced by size."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from expandcontract.lint import batch
from expandcontract.lint.batch import lint_paths
from expandcontract.lint.parallel import _balanced, map_in_processes
from expandcontract.lint.settings import LintSettings
from tests.lint.test_cache import as_json, make_files


def test_forked_results_equal_serial(tmp_path: Path) -> None:
    make_files(tmp_path / "m", 40)
    path = [str(tmp_path / "m")]
    serial = lint_paths(path, LintSettings(), cache_dir=None, jobs=1)
    assert as_json(lint_paths(path, LintSettings(), cache_dir=None, jobs=3)) == as_json(serial)


def test_executor_is_used_when_other_threads_run(tmp_path: Path) -> None:
    make_files(tmp_path / "m", 40)
    path = [str(tmp_path / "m")]
    serial = lint_paths(path, LintSettings(), cache_dir=None, jobs=1)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        parallel = lint_paths(path, LintSettings(), cache_dir=None, jobs=2)
    finally:
        stop.set()
        thread.join()
    assert as_json(parallel) == as_json(serial)


@pytest.mark.parametrize("failing", ["000_m.sql", "039_m.sql"])  # parent's share or a child's
def test_a_failure_in_any_process_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    make_files(tmp_path / "m", 40)
    real = batch.lint_target

    def flaky(target: batch.Target, settings: LintSettings) -> object:
        if target.path.endswith(failing):
            raise ValueError(f"cannot lint {failing}")
        return real(target, settings)

    monkeypatch.setattr(batch, "lint_target", flaky)
    with pytest.raises((RuntimeError, ValueError), match=f"cannot lint {failing}"):
        lint_paths([str(tmp_path / "m")], LintSettings(), cache_dir=None, jobs=2)
    assert _children() == set()  # every forked child was reaped (or killed and reaped)


def _children() -> set[int]:
    """Our child processes still in the process table, other than long-lived servers that other
    fixtures may have started (those were started before this test and are not zombies)."""
    found = set()
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] == "Z":
            found.add(int(entry.parent.name))
    return found


def test_shares_are_balanced_by_size_and_keep_order() -> None:
    sizes = [100, 1, 1, 1, 50, 50, 1]
    shares = _balanced(sizes, 2)
    totals = [sum(sizes[i] for i in share) for share in shares]
    assert sorted(i for share in shares for i in share) == list(range(len(sizes)))
    assert max(totals) - min(totals) <= 50
    assert all(share == sorted(share) for share in shares)


def test_map_in_processes_keeps_item_order_and_shares_context() -> None:
    items = list(range(57))
    assert map_in_processes(_scaled, items, [1] * 57, 4, shared=3) == [3 * i for i in items]


def _scaled(value: int, factor: int | None) -> int:
    return value * (factor if factor is not None else 1)
