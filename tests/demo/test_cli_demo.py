"""`ec demo` options that are refused before anything runs."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from expandcontract.cli import cli


def test_report_into_a_missing_folder_is_refused_before_the_run(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "demo.html"
    out = CliRunner().invoke(cli, ["demo", "--report", str(target), "--server", "embedded"])
    assert out.exit_code == 2
    assert "--report" in out.output and "no folder" in out.output
    assert "started a throwaway PostgreSQL" not in out.output
    assert not target.parent.exists()
