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
    from expandcontract.lint.ir import Kind
    from expandcontract.lint.rules.base import Rule

    Dispatch = dict[Kind, tuple[Rule, ...]]

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


@functools.lru_cache(maxsize=16)
def rule_dispatch(settings: LintSettings) -> tuple[Dispatch, Dispatch]:
    """Op kind -> the active rules that can report on it, in order: one table for where old
    code may still run, one for where ec guarantees it no longer does (contract, rollback:
    no compatibility rules). The lint loop calls a handful of rules per op, not all of them."""
    from expandcontract.lint.ir import ALL_KINDS
    from expandcontract.lint.rules.base import COMPAT

    rules = active_rules(settings)
    live = {kind: tuple(r for r in rules if not r.kinds or kind in r.kinds) for kind in ALL_KINDS}
    gone = {kind: tuple(r for r in found if COMPAT not in r.tags) for kind, found in live.items()}
    return live, gone


@functools.lru_cache(maxsize=16)
def finishers(settings: LintSettings) -> tuple[Rule, ...]:
    """The active rules that also report once the whole file was read."""
    return tuple(r for r in active_rules(settings) if r.finish is not None)
