"""What the Alembic side hands ec: the database Alembic is migrating (as a libpq URL ec's
engine can open its own connections to) and ec's settings for that project."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from expandcontract.config import Settings
from expandcontract.errors import ConfigError


def database_url(migration_context: Any) -> str:
    """The URL of the connection Alembic migrates, password included (ec opens its own
    sessions: CONCURRENTLY, backfill workers and the run lock cannot share Alembic's)."""
    bind = migration_context.bind
    if bind is None:
        raise ConfigError("ec needs a live database connection (Alembic is in offline mode)")
    url = bind.engine.url
    if url.get_backend_name() != "postgresql":
        raise ConfigError(
            f"ec runs on PostgreSQL; this Alembic project migrates {url.get_backend_name()!r}"
        )
    rendered: str = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return rendered


def project_dir(migration_context: Any) -> Path:
    """The directory of alembic.ini (or pyproject.toml): where ec looks for its own settings."""
    config = getattr(migration_context, "config", None)
    name = getattr(config, "config_file_name", None) or getattr(config, "toml_file_name", None)
    return Path(name).resolve().parent if name else Path.cwd()


def alembic_option(migration_context: Any, key: str) -> str | None:
    """An option from ``[alembic]`` in alembic.ini or ``[tool.alembic]`` in pyproject.toml."""
    config = getattr(migration_context, "config", None)
    if config is None:
        return None
    getter = getattr(config, "get_alembic_option", None)
    value = getter(key) if getter is not None else config.get_main_option(key)
    return None if value is None else str(value)


def ec_settings(migration_context: Any) -> Settings:
    """ec's settings as ``ec`` would load them in the project's directory, pointed at the
    database Alembic migrates."""
    settings = Settings.load(start_dir=project_dir(migration_context))
    return dataclasses.replace(settings, database_url=database_url(migration_context))
