from __future__ import annotations

from typing import Any

import pytest

from expandcontract.lint.registry import rule_ids
from tests.lint.cases import CASES
from tests.lint.helpers import rules


@pytest.mark.parametrize(("sql", "rule", "expected", "options"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])  # fmt: skip
def test_case(sql: str, rule: str, expected: bool, options: dict[str, Any]) -> None:
    assert rule in rule_ids()
    found = rules(sql, **options)
    assert (rule in found) is expected, found


def test_labels_unique_and_every_rule_covered() -> None:
    labels = [c[0] for c in CASES]
    assert len(labels) == len(set(labels))
    covered = {c[2] for c in CASES}
    missing = rule_ids() - covered - {"unused-ignore"}  # unused-ignore: test_suppression.py
    assert not missing, missing
