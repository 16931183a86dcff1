"""What the user names by import path: ``module:attr`` MetaData, declarative Base, or callable."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData

from expandcontract.errors import ConfigError

UserCheck = Callable[[Any], object]


def load_object(spec: str, *, option: str) -> Any:
    """Import ``module:attr`` (attr may be dotted). The current directory is importable, like
    ``python -m``, so ``myapp.models:Base`` works from a project checkout."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(
            f"{option} {spec!r} is not an import path",
            "write module:attribute, e.g. myapp.models_v1:Base",
        )
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"{option}: cannot import module {module_name!r}: {exc}",
            "run from your project directory or install the package",
        ) from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"{option}: {module_name!r} has no attribute {attr!r}") from None
    return obj


def as_metadata(obj: Any, *, option: str = "metadata") -> MetaData:
    """A MetaData from a MetaData, a declarative Base (``.metadata``) or a callable returning
    either."""
    if isinstance(obj, MetaData):
        return obj
    metadata = getattr(obj, "metadata", None)
    if isinstance(metadata, MetaData):
        return metadata
    if callable(obj) and not isinstance(obj, type):
        return as_metadata(obj(), option=option)
    raise ConfigError(
        f"{option}: expected a SQLAlchemy MetaData or declarative Base, got {type(obj).__name__}",
        "point it at `Base` (declarative) or a `MetaData()` object",
    )


def load_metadata(spec: str, *, option: str) -> MetaData:
    metadata = as_metadata(load_object(spec, option=option), option=option)
    if not metadata.tables:
        raise ConfigError(f"{option} {spec!r} declares no tables")
    return metadata


def load_check(spec: str, *, option: str) -> UserCheck:
    obj = load_object(spec, option=option)
    if not callable(obj):
        raise ConfigError(
            f"{option} {spec!r} is not callable",
            "a check is a function taking a SQLAlchemy Connection bound to its version",
        )
    check: UserCheck = obj
    return check
