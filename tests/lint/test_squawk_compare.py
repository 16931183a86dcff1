"""Differential test against squawk's JSON on a shared fixture set (fixtures/squawk_compare).

Runs only with squawk-cli installed (``-m squawk``; deselected otherwise, see conftest.py).
Compared: the squawk rules whose meaning ours matches one to one. Not compared, by design:
timeouts (squawk also wants them before non-blocking statements), prefer-robust-stmts (squawk
flags every statement outside a transaction), and constraint-missing-not-valid (squawk also
fires it on UNIQUE, where NOT VALID does not exist).
"""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from expandcontract.lint.engine import lint_sql
from expandcontract.lint.registry import all_rules
from tests.lint.conftest import squawk_binary

FIXTURES = Path(__file__).parent / "fixtures" / "squawk_compare"
NOT_COMPARED = {"require-lock-timeout", "require-statement-timeout", "prefer-robust-stmts",
                "constraint-missing-not-valid", "require-timeout-settings"}  # fmt: skip

pytestmark = pytest.mark.squawk


def squawk_findings() -> dict[str, set[tuple[str, int]]]:
    files = sorted(str(p) for p in FIXTURES.glob("*.sql"))
    proc = subprocess.run([squawk_binary() or "squawk", "--reporter", "json", *files],
                          capture_output=True, text=True, check=False)  # fmt: skip
    out: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for item in json.loads(proc.stdout):
        # squawk lines are 0-based
        out[Path(item["file"]).name].add((item["rule_name"], item["line"] + 1))
    return out


def test_fixture_set_is_substantial() -> None:
    assert len(list(FIXTURES.glob("*.sql"))) >= 40


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.sql")))
def test_same_verdict_as_squawk(name: str) -> None:
    squawk = squawk_findings()[name]
    ours = lint_sql((FIXTURES / name).read_text(), name).findings
    to_squawk = {r.id: set(r.equivalents.get("squawk", [])) - NOT_COMPARED for r in all_rules()}
    squawk_rules = {rule for rule, _ in squawk} - NOT_COMPARED
    our_mapped = {(s, f.line) for f in ours for s in to_squawk[f.rule]}
    for rule, line in squawk:
        if rule in squawk_rules:
            assert (rule, line) in our_mapped, f"squawk found {rule} at {line}, ec lint did not"
    for finding in ours:
        wanted = to_squawk[finding.rule]
        if wanted:  # one of our rules may stand for several squawk ids (ban-drop-object)
            assert {(s, finding.line) for s in wanted} & squawk, (
                f"ec lint reports {finding.rule} at {finding.line}, squawk none of {wanted}"
            )


@pytest.mark.parametrize(
    "squawk_id", sorted({s for r in all_rules() for s in r.equivalents.get("squawk", [])})
)
def test_equivalent_is_an_exact_squawk_rule_id(squawk_id: str) -> None:
    # squawk's --exclude also takes spellings it only normalises (prefer-timestamptz), so the id
    # must be accepted *and* be written as such in squawk's own rule table
    binary = squawk_binary() or "squawk"
    proc = subprocess.run([binary, f"--exclude={squawk_id}", str(FIXTURES / "char_field.sql")],
                          capture_output=True, text=True, check=False)  # fmt: skip
    # squawk reports these two itself; --exclude does not take them
    reported_only = squawk_id in ("syntax-error", "unused-ignore")
    known = reported_only or "invalid rule name" not in proc.stderr
    assert known and squawk_id.encode() in Path(binary).read_bytes(), squawk_id


def test_the_id_check_rejects_a_misspelt_id() -> None:
    binary = Path(squawk_binary() or "squawk").read_bytes()
    assert b"prefer-timestamp-tz" in binary and b"prefer-timestamptz" not in binary
