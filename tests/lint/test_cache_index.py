"""The cache index: files with an unchanged stat are not read, anything that could change a
result (content, file name, ec version, the linter's code, settings) makes an entry stale, and
what a hit serves is identical to a fresh run, down to the bytes of the JSON output."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from expandcontract.lint import batch, cache
from expandcontract.lint.batch import lint_paths
from expandcontract.lint.findings import CachedReport, FileReport
from expandcontract.lint.output import render
from expandcontract.lint.settings import LintSettings

SQL = "CREATE INDEX i{n} ON users (email);\nALTER TABLE users ADD COLUMN s text DEFAULT 'x';\n"
DAY = 86_400


def make(root: Path, count: int = 3, *, age: float = DAY) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    files = []
    for n in range(count):
        path = root / f"{n:03d}_m.sql"
        path.write_text(SQL.format(n=n))
        past = time.time() - age
        os.utime(path, (past, past))
        files.append(path)
    return files


@pytest.fixture
def linted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths the linter actually analysed (cache misses)."""
    seen: list[str] = []
    real = batch.lint_target

    def counting(target: batch.Target, settings: LintSettings) -> list[FileReport]:
        seen.append(Path(target.path).name)
        return real(target, settings)

    monkeypatch.setattr(batch, "lint_target", counting)
    return seen


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Files whose content was read and hashed (their stat was not trusted)."""
    seen: list[str] = []
    real = cache.content_key

    def counting(data: bytes, kind: str, name: str = "") -> str:
        seen.append(name)
        return real(data, kind, name)

    monkeypatch.setattr(cache, "content_key", counting)
    return seen


def run(root: Path, tmp_path: Path, settings: LintSettings | None = None) -> list[FileReport]:
    return lint_paths([str(root)], settings or LintSettings(), cache_dir=tmp_path / "c", jobs=1)


def test_unchanged_files_are_not_even_read(tmp_path: Path, linted: list[str], hashed: list[str]):
    make(tmp_path / "m")
    run(tmp_path / "m", tmp_path)
    assert len(linted) == len(hashed) == 3
    run(tmp_path / "m", tmp_path)
    assert len(linted) == len(hashed) == 3  # second run: stat matched, nothing read


def test_edited_file_is_relinted_alone(tmp_path: Path, linted: list[str]) -> None:
    files = make(tmp_path / "m")
    run(tmp_path / "m", tmp_path)
    files[1].write_text("SELECT 1;\n")
    reports = run(tmp_path / "m", tmp_path)
    assert linted[3:] == ["001_m.sql"]
    assert reports[1].findings == [] and reports[1].statements == 1


def test_same_size_edit_with_new_mtime_is_relinted(tmp_path: Path, linted: list[str]) -> None:
    files = make(tmp_path / "m", 1)
    run(tmp_path / "m", tmp_path)
    files[0].write_text(SQL.format(n=0).replace("email", "EMAIL"))  # same size, new content
    run(tmp_path / "m", tmp_path)
    assert linted == ["000_m.sql", "000_m.sql"]


def test_recently_written_files_are_hashed_every_run(tmp_path: Path, hashed: list[str]) -> None:
    # a same-size rewrite within the filesystem's mtime granularity could keep the stat:
    # fresh files are never trusted by stat (git's "racily clean" rule)
    make(tmp_path / "m", 1, age=0)
    run(tmp_path / "m", tmp_path)
    run(tmp_path / "m", tmp_path)
    assert hashed == ["000_m.sql", "000_m.sql"]


def test_touched_but_unchanged_file_is_a_hit(tmp_path: Path, linted: list[str]) -> None:
    files = make(tmp_path / "m", 1)
    run(tmp_path / "m", tmp_path)
    past = time.time() - DAY / 2
    os.utime(files[0], (past, past))  # new mtime, same content: hashed, then served
    run(tmp_path / "m", tmp_path)
    assert linted == ["000_m.sql"]


def test_ec_version_change_makes_entries_stale(
    tmp_path: Path, linted: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    make(tmp_path / "m", 1)
    run(tmp_path / "m", tmp_path)
    monkeypatch.setattr(cache, "__version__", "999.0")
    run(tmp_path / "m", tmp_path)
    assert linted == ["000_m.sql", "000_m.sql"]


def test_code_fingerprint_covers_rules_version_and_sqlglot() -> None:
    fingerprint = cache.code_fingerprint()
    assert fingerprint.startswith(cache.__version__ + "|")
    assert "|ban_drop_column.py:" in fingerprint and "|engine.py:" in fingerprint
    assert "|sqlglot:" in fingerprint


def test_linter_code_change_makes_entries_stale(
    tmp_path: Path, linted: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    make(tmp_path / "m", 1)
    run(tmp_path / "m", tmp_path)
    monkeypatch.setattr(cache, "code_fingerprint", lambda: "an edited rule")
    run(tmp_path / "m", tmp_path)
    assert linted == ["000_m.sql", "000_m.sql"]


@pytest.mark.parametrize(
    "other",
    [
        LintSettings(pg_version=10),
        LintSettings(assume_in_transaction=True),
        LintSettings(ignore=frozenset({"require-concurrent-index-creation"})),
        LintSettings(select=frozenset({"ban-drop-column"})),
    ],
    ids=["pg-version", "transaction", "ignore", "select"],
)
def test_settings_change_makes_entries_stale(
    tmp_path: Path, linted: list[str], other: LintSettings
) -> None:
    make(tmp_path / "m", 1)
    first = run(tmp_path / "m", tmp_path)
    second = run(tmp_path / "m", tmp_path, other)
    assert linted == ["000_m.sql", "000_m.sql"]
    fresh = lint_paths([str(tmp_path / "m")], other, cache_dir=None)
    assert [r.to_cache() for r in second] == [r.to_cache() for r in fresh]
    assert run(tmp_path / "m", tmp_path)[0].to_cache() == first[0].to_cache()  # both kept


def test_file_name_is_part_of_the_key(tmp_path: Path) -> None:
    # Flyway runs V1__x.sql in a transaction, a plain file is not: same bytes, other result
    sql = "SET lock_timeout = '1s';\nCREATE INDEX CONCURRENTLY i ON users (email);\n"
    root = tmp_path / "m"
    root.mkdir()
    for name in ("V1__a.sql", "plain.sql"):
        (root / name).write_text(sql)
    for _ in range(2):
        by_name = {Path(r.path).name: {f.rule for f in r.findings} for r in run(root, tmp_path)}
        assert "concurrently-in-transaction" in by_name["V1__a.sql"]
        assert "concurrently-in-transaction" not in by_name["plain.sql"]


def test_corrupt_index_is_ignored_and_rewritten(tmp_path: Path, linted: list[str]) -> None:
    make(tmp_path / "m", 1)
    run(tmp_path / "m", tmp_path)
    (index,) = (tmp_path / "c").glob("index-*.json")
    index.write_text("{not json")
    run(tmp_path / "m", tmp_path)
    run(tmp_path / "m", tmp_path)
    assert linted == ["000_m.sql", "000_m.sql"]


def test_results_of_edited_files_are_dropped(tmp_path: Path) -> None:
    files = make(tmp_path / "m", 2)
    run(tmp_path / "m", tmp_path)
    files[0].write_text("SELECT 1;\n")
    past = time.time() - DAY
    os.utime(files[0], (past, past))
    run(tmp_path / "m", tmp_path)
    (index,) = (tmp_path / "c").glob("index-*.json")
    header = json.loads(index.read_text().split("\n", 1)[0])
    assert len(header["results"]) == len(header["stats"]) == 2


def test_warm_json_is_byte_identical_to_fresh(tmp_path: Path) -> None:
    make(tmp_path / "m", 4)
    fresh = render(lint_paths([str(tmp_path / "m")], LintSettings(), cache_dir=None), "json")
    cold = render(run(tmp_path / "m", tmp_path), "json")
    warm_reports = run(tmp_path / "m", tmp_path)
    assert all(isinstance(r, CachedReport) for r in warm_reports)
    assert fresh == cold == render(warm_reports, "json")
    for fmt in ("text", "sarif", "github", "gitlab"):
        assert render(warm_reports, fmt) == render(run(tmp_path / "m", tmp_path), fmt)


def test_same_content_under_another_path_reports_that_path(tmp_path: Path) -> None:
    make(tmp_path / "m", 2)
    run(tmp_path / "m", tmp_path)
    shutil.copytree(tmp_path / "m", tmp_path / "copy")
    served = run(tmp_path / "copy", tmp_path)
    fresh = lint_paths([str(tmp_path / "copy")], LintSettings(), cache_dir=None)
    assert render(served, "json") == render(fresh, "json")
    assert all(f.path.startswith(str(tmp_path / "copy")) for r in served for f in r.findings)


def test_cached_findings_become_objects_on_demand(tmp_path: Path) -> None:
    make(tmp_path / "m", 1)
    (fresh,) = run(tmp_path / "m", tmp_path)
    (hit,) = run(tmp_path / "m", tmp_path)
    assert isinstance(hit, CachedReport) and hit.severities() == fresh.severities()
    assert hit.findings == fresh.findings
    hit.findings.append(fresh.findings[0])  # e.g. a cross-file finding added later
    assert hit.json_findings() is None  # so the JSON output re-encodes the objects
    assert len(json.loads(render([hit], "json"))["findings"]) == len(fresh.findings) + 1
