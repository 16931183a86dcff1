"""All rules, discovered from ``expandcontract.lint.rules``: one module per rule, named after
its id (``ban-drop-column`` lives in ``ban_drop_column.py``; a test keeps it so). The ids come
from the file names alone, so validating ``--select``/``--ignore`` on a warm run imports no rule.
"""

from __future__ import annotations

import functools
import importlib
import os
from typing import TYPE_CHECKING

from expandcontract.errors import ConfigError
from expandcontract.lint.settings import LintSettings

if TYPE_CHECKING:
    from expandcontract.lint.rules.base import Rule

_RULES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rules")


@functools.cache
def rule_modules() -> tuple[str, ...]:
    return tuple(
        sorted(
            name[:-3]
            for name in os.listdir(_RULES_DIR)
            if name.endswith(".py") and not name.startswith("_") and name != "base.py"
        )
    )


@functools.cache
def all_rules() -> tuple[Rule, ...]:
    rules = [importlib.import_module(f"{__package__}.rules.{m}").RULE for m in rule_modules()]
    return tuple(sorted(rules, key=lambda r: r.id))


def rule_ids() -> set[str]:
    return {m.replace("_", "-") for m in rule_modules()}


def check_rule_ids(settings: LintSettings) -> None:
    """Reject unknown ids in select/ignore before any file is read."""
    unknown = (set(settings.select) | set(settings.ignore)) - rule_ids() - {"ALL"}
    if unknown:
        raise ConfigError(
            f"unknown lint rule {', '.join(sorted(unknown))}", "see `ec lint --list-rules`"
        )


def is_active(rule: Rule, settings: LintSettings) -> bool:
    if settings.select and "ALL" not in settings.select:
        chosen = rule.id in settings.select
    else:
        chosen = rule.default_enabled
    return chosen and rule.id not in settings.ignore


@functools.lru_cache(maxsize=16)  # asked once per linted file; settings are hashable
def active_rules(settings: LintSettings) -> tuple[Rule, ...]:
    check_rule_ids(settings)
    return tuple(r for r in all_rules() if is_active(r, settings))
