from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_rule_pages_are_up_to_date() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_lint_docs.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + "\nrun: python scripts/gen_lint_docs.py"


def test_index_documents_every_output_format_and_directive() -> None:
    text = (ROOT / "docs" / "lint" / "index.md").read_text()
    for needle in ("--format sarif", "github", "gitlab", "ec:ignore", "ec:ignore-file",
                   "[tool.expandcontract.lint]", "--since", "unparsed"):  # fmt: skip
        assert needle in text, needle


def test_each_rule_module_is_named_after_its_rule_id() -> None:
    # registry.rule_ids() reads ids from file names, so a warm run imports no rule
    from expandcontract.lint.registry import all_rules, rule_ids

    assert rule_ids() == {r.id for r in all_rules()}
    for rule in all_rules():
        assert rule.check.__module__.rsplit(".", 1)[-1] == rule.id.replace("-", "_")
