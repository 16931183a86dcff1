"""``--since REF`` on a real temporary git repository."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from expandcontract.cli import cli

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                   cwd=repo, check=True, capture_output=True)  # fmt: skip


def test_since_lints_only_changed_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    (repo / "migrations").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "migrations" / "001_old.sql").write_text("DROP TABLE legacy;\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "old")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "migrations" / "002_committed.sql").write_text("DROP TABLE a;\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "feature")
    (repo / "migrations" / "003_untracked.sql").write_text("DROP TABLE b;\n")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("EC_LINT_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(cli, ["lint", "migrations", "--since", "main", "--json"])
    data = json.loads(result.output)
    names = sorted(Path(f["path"]).name for f in data["files"])
    assert names == ["002_committed.sql", "003_untracked.sql"]
    assert result.exit_code == 1
    clean = CliRunner().invoke(cli, ["lint", "migrations", "--since", "HEAD", "--json"])
    assert [Path(f["path"]).name for f in json.loads(clean.output)["files"]] == [
        "003_untracked.sql"
    ]


def test_since_unknown_ref_is_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "a.sql").write_text("SELECT 1;\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EC_LINT_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(cli, ["lint", "a.sql", "--since", "no-such-ref"])
    assert result.exit_code == 2
