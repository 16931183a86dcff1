"""Every rule's documented bad example fires it and its good example does not. The examples
of rules about ec migration files are migration files, linted as such."""

from __future__ import annotations

import pytest

from expandcontract.lint.registry import all_rules
from expandcontract.lint.rules._ec_migration import EC_MIGRATION
from expandcontract.lint.rules.base import Rule
from tests.lint.helpers import ec_file_rules, rules

RULES = all_rules()


def reported(rule: Rule, example: str) -> set[str]:
    return ec_file_rules(example) if EC_MIGRATION in rule.tags else rules(example)


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_bad_example_fires(rule: Rule) -> None:
    assert rule.id in reported(rule, rule.bad)


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_good_example_is_clean_for_the_rule(rule: Rule) -> None:
    assert rule.id not in reported(rule, rule.good)


@pytest.mark.parametrize("rule", [r for r in RULES if EC_MIGRATION in r.tags], ids=lambda r: r.id)
def test_ec_migration_examples_are_otherwise_clean(rule: Rule) -> None:
    """The good example is a migration ec plan accepts; the bad one shows only its rule."""
    assert ec_file_rules(rule.good) == set()
    assert ec_file_rules(rule.bad) == {rule.id}


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_metadata(rule: Rule) -> None:
    assert rule.severity in ("error", "warning", "info")
    assert rule.summary and rule.why and rule.suggestion
    assert set(rule.equivalents) <= {"squawk", "strong_migrations", "atlas", "eugene"}
    lock_rules = {"require-concurrent-index-creation", "set-tablespace", "lock-table"}
    if rule.id in lock_rules:
        assert "lock" in rule.why.lower()
