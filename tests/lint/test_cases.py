from __future__ import annotations

from typing import Any

import pytest

from expandcontract.lint.registry import all_rules, rule_ids
from expandcontract.lint.rules._ec_migration import EC_MIGRATION
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
    # unused-ignore: test_suppression.py; the rules about ec migration files (YAML, not SQL):
    # test_ec_migration_rules.py
    elsewhere = {"unused-ignore"} | {r.id for r in all_rules() if EC_MIGRATION in r.tags}
    missing = rule_ids() - covered - elsewhere
    assert not missing, missing
