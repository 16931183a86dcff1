"""Result cache: hits are identical to fresh results, keys include settings, and a run where
every file is a hit never imports sqlglot (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from expandcontract.lint.batch import lint_paths
from expandcontract.lint.settings import LintSettings

SQL = "CREATE INDEX i ON users (email);\nALTER TABLE users ADD COLUMN s text DEFAULT 'x';\n"


def make_files(root: Path, count: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (root / f"{i:03d}_m.sql").write_text(SQL.replace("i ON", f"i{i} ON"))


def as_json(reports: list) -> list:  # type: ignore[type-arg]
    return [r.to_cache() for r in reports]


def test_cache_hits_equal_fresh_results(tmp_path: Path) -> None:
    make_files(tmp_path / "m", 3)
    settings = LintSettings()
    fresh = lint_paths([str(tmp_path / "m")], settings, cache_dir=None)
    first = lint_paths([str(tmp_path / "m")], settings, cache_dir=tmp_path / "c")
    cached = lint_paths([str(tmp_path / "m")], settings, cache_dir=tmp_path / "c")
    assert as_json(fresh) == as_json(first) == as_json(cached)


def test_cache_key_includes_settings(tmp_path: Path) -> None:
    make_files(tmp_path / "m", 1)
    path = [str(tmp_path / "m")]
    old = lint_paths(path, LintSettings(pg_version=10), cache_dir=tmp_path / "c")
    new = lint_paths(path, LintSettings(pg_version=15), cache_dir=tmp_path / "c")
    rules = lambda reports: {f.rule for r in reports for f in r.findings}  # noqa: E731
    assert "add-column-rewrite-default" in rules(old)
    assert "add-column-rewrite-default" not in rules(new)


def test_cache_invalidated_by_content(tmp_path: Path) -> None:
    make_files(tmp_path / "m", 1)
    path = [str(tmp_path / "m")]
    lint_paths(path, LintSettings(), cache_dir=tmp_path / "c")
    (tmp_path / "m" / "000_m.sql").write_text("SELECT 1;\n")
    (report,) = lint_paths(path, LintSettings(), cache_dir=tmp_path / "c")
    assert report.findings == [] and report.statements == 1


def test_parallel_results_equal_serial(tmp_path: Path) -> None:
    make_files(tmp_path / "m", 40)
    path = [str(tmp_path / "m")]
    serial = lint_paths(path, LintSettings(), cache_dir=None, jobs=1)
    parallel = lint_paths(path, LintSettings(), cache_dir=None, jobs=2)
    assert as_json(serial) == as_json(parallel)


def test_sqlglot_is_imported_only_when_a_file_must_be_linted(tmp_path: Path) -> None:
    make_files(tmp_path / "m", 5)
    code = (
        "import sys, json\n"
        "from expandcontract.cli import cli\n"
        "try:\n"
        "    cli(['lint', sys.argv[1], '--json'], standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = {'sqlglot', 'rich', 'psycopg', 'yaml', 'sqlalchemy', 'alembic'}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    env_cache = {"EC_LINT_CACHE_DIR": str(tmp_path / "cache")}

    def loaded() -> list[str]:
        proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m")],
                              capture_output=True, text=True, cwd=tmp_path,
                              env={**_env(), **env_cache}, check=True)  # fmt: skip
        return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    assert "sqlglot" in loaded()  # cold: every statement goes through sqlglot's parser
    assert loaded() == []  # warm: every file a cache hit; no parser, rich, psycopg, yaml …
    (tmp_path / "m" / "999_vacuum.sql").write_text("VACUUM FULL users;\n")
    assert "sqlglot" in loaded()  # one new file: the parser is loaded for it


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_bytes_read_for_the_cache_lint_like_the_file_itself(tmp_path: Path) -> None:
    """The parent hands the bytes it hashed to the linter; CRLF / CR line ends and bad UTF-8 must
    give the same lines and findings as reading the file as text."""
    from expandcontract.lint.inputs.sql_files import lint_file

    raw = (
        b"SET lock_timeout = '1s';\r\nCREATE INDEX i ON t (a);\rDROP TABLE \xff;\r\nDROP TABLE u;\n"
    )
    path = tmp_path / "m.sql"
    path.write_bytes(raw)
    from_disk = lint_file(str(path), LintSettings())
    from_bytes = lint_file(str(path), LintSettings(), raw)
    assert from_disk.to_cache() == from_bytes.to_cache()
    assert [f.line for f in from_bytes.findings] == [f.line for f in from_disk.findings]
    assert {f.line for f in from_bytes.findings} >= {2, 4}
