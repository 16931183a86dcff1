"""Every rule's documented bad example fires it and its good example does not."""

from __future__ import annotations

import pytest

from expandcontract.lint.registry import all_rules
from expandcontract.lint.rules.base import Rule
from tests.lint.helpers import rules

RULES = all_rules()


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_bad_example_fires(rule: Rule) -> None:
    assert rule.id in rules(rule.bad)


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_good_example_is_clean_for_the_rule(rule: Rule) -> None:
    assert rule.id not in rules(rule.good)


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_metadata(rule: Rule) -> None:
    assert rule.severity in ("error", "warning", "info")
    assert rule.summary and rule.why and rule.suggestion
    assert set(rule.equivalents) <= {"squawk", "strong_migrations", "atlas", "eugene"}
    lock_rules = {"require-concurrent-index-creation", "set-tablespace", "lock-table"}
    if rule.id in lock_rules:
        assert "lock" in rule.why.lower()
