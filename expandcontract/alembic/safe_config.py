"""Whether safe ops are on (``ec.safe_ops`` in alembic.ini / pyproject.toml), what a revision
opted out of (``ec_safe_ops`` / ``ec_allow`` at module level), and the retry policy to use.

Everything is read from the migration context each time it is asked: one process may run
several Alembic projects (tests, multidb setups), so nothing is cached across contexts."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from alembic.util import CommandError

from expandcontract.alembic.binding import alembic_option, project_dir
from expandcontract.config import Settings
from expandcontract.errors import ConfigError, ECError
from expandcontract.runner.policy import RetryPolicy

OPTION = "ec.safe_ops"
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0", "")

# What a revision may allow with ``ec_allow = {...}``: each lifts one refusal.
ALLOWABLE = {
    "drop_column": "op.drop_column",
    "drop_table": "op.drop_table",
    "exclude_constraint": "op.create_exclude_constraint on an existing table",
    "rename_column": "op.alter_column(new_column_name=...)",
    "rename_table": "op.rename_table",
    "alter_column_type": "a type change that rewrites or scans the table",
    "add_required_column": "a NOT NULL column without a server default",
    "add_column_rewrite": "a column whose default, identity or generated value rewrites the table",
    "execute": "op.execute of SQL that ec's linter reports as an error (or name the rule id)",
}


class SafeOpsConfigError(ConfigError, CommandError):
    """A bad safe-ops setting (Alembic's CLI prints a CommandError as ``FAILED: …``, not a
    traceback)."""


def safe_ops_enabled(migration_context: Any) -> bool:
    """``ec.safe_ops`` from ``[alembic]`` in alembic.ini, else ``[tool.alembic]`` in
    pyproject.toml, written either as the dotted key ``ec.safe_ops = true`` (a nested table
    in TOML) or the quoted ``"ec.safe_ops" = true``."""
    value: object = alembic_option(migration_context, OPTION)
    if value is None:
        config = getattr(migration_context, "config", None)
        table = getattr(config, "toml_alembic_config", None) if config is not None else None
        nested = table.get("ec") if isinstance(table, Mapping) else None
        value = nested.get("safe_ops") if isinstance(nested, Mapping) else None
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SafeOpsConfigError(
        f"{OPTION} must be true or false, got {value!r}",
        "write `ec.safe_ops = true` in the [alembic] section of alembic.ini "
        "(or under [tool.alembic] in pyproject.toml)",
    )


@dataclasses.dataclass(frozen=True)
class RevisionOptOut:
    """What one revision file says about safe ops."""

    enabled: bool = True
    allow: frozenset[str] = frozenset()

    def allows(self, *names: str) -> bool:
        return any(name in self.allow for name in names)


def revision_opt_out(module_globals: Mapping[str, Any] | None, where: str) -> RevisionOptOut:
    """``ec_safe_ops = False`` runs the whole revision as plain Alembic would; ``ec_allow =
    {"drop_column", ...}`` keeps the safe forms but lifts the named refusals."""
    if not module_globals:
        return RevisionOptOut()
    enabled = module_globals.get("ec_safe_ops", True)
    if not isinstance(enabled, bool):
        raise SafeOpsConfigError(
            f"ec_safe_ops in {where} must be True or False, got {enabled!r}",
            "write `ec_safe_ops = False` at module level to run this revision as plain Alembic",
        )
    allow = module_globals.get("ec_allow", ())
    if isinstance(allow, str) or not isinstance(allow, list | tuple | set | frozenset):
        raise SafeOpsConfigError(
            f"ec_allow in {where} must be a set of names, got {allow!r}",
            'write e.g. ec_allow = {"drop_column"}',
        )
    names = frozenset(str(name) for name in allow)
    unknown = sorted(n for n in names if n not in ALLOWABLE and not _looks_like_rule(n))
    if unknown:
        raise SafeOpsConfigError(
            f"unknown name(s) in ec_allow of {where}: {', '.join(unknown)}",
            f"known names are: {', '.join(sorted(ALLOWABLE))}, or a lint rule id for op.execute",
        )
    return RevisionOptOut(enabled=enabled, allow=names)


def _looks_like_rule(name: str) -> bool:
    from expandcontract.lint.registry import rule_ids

    return name in rule_ids()


def settings(migration_context: Any) -> Settings:
    """ec's settings for the project (lock_timeout, retries); offline mode needs no URL."""
    try:
        return Settings.load(start_dir=project_dir(migration_context))
    except ECError as exc:
        raise SafeOpsConfigError(exc.message, exc.hint) from exc


def retry_policy(migration_context: Any) -> RetryPolicy:
    loaded = settings(migration_context)
    try:
        return RetryPolicy.from_settings(loaded)
    except ECError as exc:
        raise SafeOpsConfigError(exc.message, exc.hint) from exc
