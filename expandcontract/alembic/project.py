"""An Alembic project's configuration, read the way the ``alembic`` command reads it: the
alembic.ini and the ``[tool.alembic]`` of pyproject.toml beside it are one configuration.
Shared by ``ec lint`` and ``ec verify --alembic``, which run without env.py."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config


def has_tool_alembic(path: Path) -> bool:
    """Whether ``path`` is a pyproject.toml with a ``[tool.alembic]`` table."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return "alembic" in data.get("tool", {})


def load_config(path: Path) -> Config:
    """The configuration of an alembic.ini or a pyproject.toml, with its partner beside it."""
    from alembic.config import Config

    beside_ini, beside_toml = path.with_name("alembic.ini"), path.with_name("pyproject.toml")
    if path.suffix == ".toml":
        ini = str(beside_ini) if beside_ini.is_file() else None
        config = Config(ini, toml_file=str(path))
    else:
        toml = str(beside_toml) if has_tool_alembic(beside_toml) else None
        config = Config(str(path), toml_file=toml)
    location = config.get_alembic_option("script_location")
    # Alembic resolves a relative script_location from the working directory; ec may run
    # elsewhere, so fall back to the config file's directory.
    if location and not Path(location).is_absolute() and not Path(location).exists():
        beside = path.resolve().parent / location
        if beside.exists():
            config.set_main_option("script_location", str(beside))
    return config


def config_file_in(folder: Path) -> Path | None:
    """alembic.ini in ``folder``, else its pyproject.toml when it has ``[tool.alembic]``."""
    ini = folder / "alembic.ini"
    if ini.is_file():
        return ini
    toml = folder / "pyproject.toml"
    return toml if has_tool_alembic(toml) else None
