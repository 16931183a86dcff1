"""What an ``op.expand_contract`` call asks for: the revision file it is called from and the
ec migration its arguments describe, validated before anything runs (no database needed)."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expandcontract.errors import ConfigError

if TYPE_CHECKING:
    from expandcontract.engine.migration import Migration


@dataclasses.dataclass(frozen=True)
class RevisionFile:
    revision: str
    path: Path


def calling_revision() -> RevisionFile | None:
    """The Alembic revision module on the call stack: the nearest frame whose module defines
    ``revision`` and ``down_revision`` (what Alembic requires of a revision file). Alembic
    does not record which revision is running, and a revision may call a helper module that
    calls ``op.*``, so the stack is searched rather than the immediate caller assumed."""
    frame = sys._getframe(1)
    while frame is not None:
        names = frame.f_globals
        revision, file = names.get("revision"), names.get("__file__")
        if isinstance(revision, str) and isinstance(file, str) and "down_revision" in names:
            return RevisionFile(revision, Path(file).resolve())
        frame = frame.f_back  # type: ignore[assignment]
    return None


def migration_name(name: Any, revision: RevisionFile | None, directive: str) -> str:
    """``name`` if given, else the calling revision's id."""
    if name is not None:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{directive}: name must be a non-empty string, got {name!r}")
        return name
    if revision is None:
        raise ConfigError(
            f"{directive} is called outside an Alembic revision, so its ec migration has no name",
            "call it from a revision's upgrade()/downgrade(), or pass name=...",
        )
    return revision.revision


def build_migration(operations: Any, name: Any, revision: RevisionFile | None) -> Migration:
    """The ec migration of ``op.expand_contract(operations, name)``: ``operations`` is the
    ``operations:`` list of an ec migration file, or the path of such a file (YAML, or JSON by
    its suffix) relative to the revision file. Raises MigrationInvalid (a ConfigError)."""
    from expandcontract.engine.migration import from_spec
    from expandcontract.operations import MigrationInvalid

    directive = "op.expand_contract"
    effective = migration_name(name, revision, directive)
    if isinstance(operations, str | os.PathLike):
        data, source = _read(Path(operations), revision)
        if not isinstance(data, dict):
            raise MigrationInvalid(f"{source}: a migration file is a mapping with `operations:`")
        own = data.get("name")
        if own is not None and str(own) != effective:
            raise MigrationInvalid(
                f"{source} names its migration {own!r}, but this revision runs it as "
                f"{effective!r} (the revision id unless name= is given)",
                f"remove `name:` from the file, or pass name={str(own)!r} to {directive} "
                "(and to op.expand_contract_rollback)",
            )
        return from_spec({**data, "name": effective}, default_name=effective)
    if isinstance(operations, list | tuple):
        return from_spec({"operations": list(operations)}, default_name=effective)
    raise MigrationInvalid(
        f"{directive} takes the list of ec operations (the `operations:` of an ec migration "
        f"file) or the path of such a file, not {type(operations).__name__}",
        "e.g. op.expand_contract([{'rename_column': {'table': 'users', 'from': 'email', "
        "'to': 'email_address'}}]); the operations are described in docs/migrations.md",
    )


def _read(path: Path, revision: RevisionFile | None) -> tuple[Any, str]:
    from expandcontract.engine.migration import parse_text
    from expandcontract.operations import MigrationInvalid

    if not path.is_absolute():
        if revision is None:
            raise MigrationInvalid(
                f"migration file {str(path)!r} is relative, but no revision file calls "
                "op.expand_contract to resolve it against",
                "pass an absolute path",
            )
        path = revision.path.parent / path
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MigrationInvalid(
            f"cannot read migration file {path}: {exc.strerror}",
            "a relative path is resolved against the directory of the revision file",
        ) from None
    except UnicodeDecodeError as exc:
        raise MigrationInvalid(
            f"migration file {path} is not UTF-8 text (byte {exc.start}: {exc.reason})",
            "save it as UTF-8",
        ) from None
    return parse_text(text, source=str(path), json_format=path.suffix == ".json"), str(path)
