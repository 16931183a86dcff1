"""Settings: flag > environment > ``[tool.expandcontract]`` in pyproject.toml > default."""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from expandcontract.errors import ConfigError

SERVER_KINDS = ("auto", "url", "embedded", "local", "container")

_DURATION = re.compile(r"^\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|min|m|h)?\s*$")
_UNIT_MS = {"ms": 1, None: 1, "s": 1000, "min": 60_000, "m": 60_000, "h": 3_600_000}


def parse_duration_ms(value: object, *, name: str) -> int:
    """``500``, ``"500ms"``, ``"2s"``, ``"5min"`` -> milliseconds. Bare numbers are milliseconds."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a duration, not {value!r}", "use e.g. 500ms, 2s or 5min")
    if isinstance(value, int | float):
        ms = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ConfigError(
                f"{name} must be a duration like 500ms, 2s or 5min, got {value!r}",
                "bare numbers are milliseconds",
            )
        ms = float(m.group("n")) * _UNIT_MS[m.group("unit")]
    if ms < 0:
        raise ConfigError(f"{name} must not be negative, got {value!r}")
    return int(ms)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a command needs to know about where and how carefully to work."""

    database_url: str | None = dataclasses.field(default=None, repr=False)
    schema: str = "public"
    ledger_schema: str = "expandcontract"
    lock_timeout_ms: int = 500
    # Catalog-only DDL finishes in milliseconds; scans (VALIDATE, index builds) pass their own.
    statement_timeout_ms: int = 600_000
    retry_max_attempts: int = 12
    retry_max_ms: int = 60_000
    server: str = "auto"
    verbose: bool = False

    @classmethod
    def load(
        cls,
        flags: Mapping[str, Any] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        start_dir: Path | None = None,
    ) -> Settings:
        """Merge defaults, the config file, the environment and flags (later wins)."""
        merged: dict[str, Any] = {}
        config, source = find_config(start_dir or Path.cwd())
        merged.update(_from_config(config, source))
        merged.update(_from_env(os.environ if env is None else env))
        merged.update({k: v for k, v in (flags or {}).items() if v is not None})
        return cls.from_mapping(merged)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown setting(s): {', '.join(unknown)}",
                f"known settings are: {', '.join(sorted(known))}",
            )
        kwargs = dict(values)
        for key in ("lock_timeout_ms", "statement_timeout_ms", "retry_max_ms"):
            if key in kwargs:
                kwargs[key] = parse_duration_ms(kwargs[key], name=key.removesuffix("_ms"))
        if "retry_max_attempts" in kwargs:
            kwargs["retry_max_attempts"] = _positive_int(kwargs["retry_max_attempts"], "retry")
        if kwargs.get("server", "auto") not in SERVER_KINDS:
            raise ConfigError(
                f"unknown server kind {kwargs['server']!r}",
                f"choose one of: {', '.join(SERVER_KINDS)}",
            )
        for key in ("schema", "ledger_schema"):
            if key in kwargs and not str(kwargs[key]).strip():
                raise ConfigError(f"{key} must not be empty")
        if kwargs.get("lock_timeout_ms") == 0:
            raise ConfigError(
                "lock_timeout must be greater than 0",
                "without a lock timeout a queued DDL statement blocks all traffic behind it",
            )
        return cls(**kwargs)

    def require_database_url(self) -> str:
        """The database URL, checked to be a connection string libpq can read (a usage
        error otherwise, before anything connects)."""
        if not self.database_url:
            raise ConfigError(
                "no database to work on",
                "pass --database-url/-d, set EC_DATABASE_URL, or set database_url in "
                "[tool.expandcontract] of pyproject.toml",
            )
        check_database_url(self.database_url)
        return self.database_url


_URL_SCHEME = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.\-]*)://", re.I)
_POSTGRES_SCHEME = re.compile(r"^postgres(?:ql)?(?:\+[a-z0-9_]+)?$", re.I)
_DSN_FORMS = (
    "a URL such as postgresql://user@host:5432/dbname or key=value pairs such as "
    "'host=localhost dbname=app user=me'"
)


def check_database_url(url: str) -> None:
    """Raise ConfigError unless ``url`` is a PostgreSQL connection string libpq can parse."""
    from urllib.parse import urlsplit

    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    from expandcontract.dsn import display_dsn, to_psycopg

    shown = display_dsn(url)

    def invalid(reason: str) -> ConfigError:
        return ConfigError(
            f"the database URL is not a valid connection string: {reason} (got {shown})",
            f"use {_DSN_FORMS}",
        )

    scheme = _URL_SCHEME.match(url)
    if scheme and not _POSTGRES_SCHEME.match(scheme.group("scheme")):
        raise invalid(f"{scheme.group('scheme')}:// is not a PostgreSQL URL scheme")
    try:
        if scheme:
            urlsplit(url)  # as_version rewrites URLs: a malformed host (e.g. "[") must not pass
        params = conninfo_to_dict(to_psycopg(url))
    except (ProgrammingError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise invalid(reason) from None
    # libpq reads the port only when it connects; a typo there is a usage error too.
    # Several hosts carry several ports ("h1:5432,h2:5433").
    for port in str(params.get("port") or "").split(","):
        if port.strip() and not port.strip().isdigit():
            raise invalid(f"port {port.strip()!r} is not a number")


def _positive_int(value: object, name: str) -> int:
    try:
        n = int(str(value))
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from None
    if n < 1:
        raise ConfigError(f"{name} must be at least 1, got {n}")
    return n


_ENV = {
    "EC_DATABASE_URL": "database_url",
    "EC_SCHEMA": "schema",
    "EC_LEDGER_SCHEMA": "ledger_schema",
    "EC_LOCK_TIMEOUT": "lock_timeout_ms",
    "EC_STATEMENT_TIMEOUT": "statement_timeout_ms",
    "EC_SERVER": "server",
}

# Config-file keys are the user-facing names; map them onto Settings fields.
_CONFIG_KEYS = {
    "database_url": "database_url",
    "schema": "schema",
    "ledger_schema": "ledger_schema",
    "lock_timeout": "lock_timeout_ms",
    "statement_timeout": "statement_timeout_ms",
    "retry_max_attempts": "retry_max_attempts",
    "retry_max_time": "retry_max_ms",
    "server": "server",
}


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    return {field: env[var] for var, field in _ENV.items() if env.get(var)}


def _from_config(config: Mapping[str, Any], source: Path | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            continue  # sub-tables (e.g. [tool.expandcontract.lint]) belong to their commands
        if key not in _CONFIG_KEYS:
            raise ConfigError(
                f"unknown key {key!r} in [tool.expandcontract] of {source}",
                f"known keys are: {', '.join(sorted(_CONFIG_KEYS))}",
            )
        out[_CONFIG_KEYS[key]] = value
    return out


def find_config(start: Path) -> tuple[dict[str, Any], Path | None]:
    """The ``[tool.expandcontract]`` table of the nearest pyproject.toml at or above ``start``."""
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"cannot read {candidate}: {exc}") from exc
            table = data.get("tool", {}).get("expandcontract", {})
            if not isinstance(table, dict):
                raise ConfigError(f"[tool.expandcontract] in {candidate} must be a table")
            return table, candidate
    return {}, None
