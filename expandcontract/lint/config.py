"""``[tool.expandcontract.lint]`` in pyproject.toml: select, ignore, fail-on, pg-version,
assume-in-transaction, migration-tool. Flags override the file."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from expandcontract.config import find_config
from expandcontract.errors import ConfigError
from expandcontract.lint.settings import SEVERITIES, LintSettings


def _rules(value: object, key: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple | set | frozenset):
        raise ConfigError(f"[tool.expandcontract.lint] {key} must be a list of rule ids")
    return frozenset(str(v).strip() for v in value if str(v).strip())


def from_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    known = {"select", "ignore", "fail-on", "pg-version", "assume-in-transaction", "migration-tool"}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(
            f"unknown key {', '.join(sorted(unknown))} in [tool.expandcontract.lint]",
            f"known keys: {', '.join(sorted(known))}",
        )
    out: dict[str, Any] = {}
    if "select" in data:
        out["select"] = _rules(data["select"], "select")
    if "ignore" in data:
        out["ignore"] = _rules(data["ignore"], "ignore")
    if "fail-on" in data:
        out["fail_on"] = str(data["fail-on"])
    if "pg-version" in data:
        out["pg_version"] = data["pg-version"]
    if "assume-in-transaction" in data:
        out["assume_in_transaction"] = bool(data["assume-in-transaction"])
    if "migration-tool" in data:
        out["migration_tool"] = _migration_tool(data["migration-tool"])
    return out


def _migration_tool(value: object) -> str:
    from expandcontract.lint.inputs.conventions import CHOICES

    tool = str(value).strip().lower()
    if tool not in CHOICES:
        raise ConfigError(f"unknown migration-tool {value!r}", f"known tools: {', '.join(CHOICES)}")
    return tool


def load_migration_tool(*, start: Path | None = None, migration_tool: str | None = None) -> str:
    """The migration tool whose conventions every SQL file follows ("auto": detect per file).
    The flag overrides the config file."""
    if migration_tool is not None:
        return _migration_tool(migration_tool)
    config, _ = find_config(start or Path.cwd())
    values = from_mapping(config.get("lint", {}) if isinstance(config, dict) else {})
    return str(values.get("migration_tool", "auto"))


def load_settings(
    *,
    start: Path | None = None,
    pg_version: int | None = None,
    select: Iterable[str] = (),
    ignore: Iterable[str] = (),
    fail_on: str | None = None,
    assume_in_transaction: bool | None = None,
) -> LintSettings:
    config, _ = find_config(start or Path.cwd())
    values = from_mapping(config.get("lint", {}) if isinstance(config, dict) else {})
    values.pop("migration_tool", None)  # not a LintSettings field: load_migration_tool
    if pg_version is not None:
        values["pg_version"] = pg_version
    if select:
        values["select"] = frozenset(select)
    if ignore:
        values["ignore"] = frozenset(values.get("ignore", frozenset())) | frozenset(ignore)
    if fail_on is not None:
        values["fail_on"] = fail_on
    if assume_in_transaction is not None:
        values["assume_in_transaction"] = assume_in_transaction
    try:
        values["pg_version"] = int(values.get("pg_version", 15))
    except (TypeError, ValueError) as exc:
        raise ConfigError("pg-version must be a major version number such as 15") from exc
    if not 9 <= values["pg_version"] <= 30:
        raise ConfigError(f"pg-version {values['pg_version']} is not a PostgreSQL major version")
    if values.get("fail_on", "warning") not in SEVERITIES:
        raise ConfigError("fail-on must be one of error, warning, info")
    return LintSettings(**values)
