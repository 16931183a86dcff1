"""Plain and tool-flavoured ``.sql`` migration files.

golang-migrate (``*.up.sql`` / ``*.down.sql``), dbmate (``-- migrate:up`` / ``-- migrate:down``),
goose (``-- +goose Up`` / ``-- +goose Down``), Flyway (``V1__x.sql``; ``U1__x.sql`` undo),
diesel (``up.sql`` / ``down.sql``), Prisma (``migration.sql``). Only the "up" part is linted;
the "down" part is blanked line for line so positions stay exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_DOWN_MARKERS = re.compile(r"^\s*--\s*(migrate:down|\+goose\s+down)\b", re.IGNORECASE | re.M)
_UP_MARKERS = re.compile(r"^\s*--\s*(migrate:up|\+goose\s+up)\b", re.IGNORECASE | re.M)
_NO_TX = re.compile(r"--\s*(\+goose\s+NO\s+TRANSACTION|migrate:up\s+transaction:false)", re.I)
_FLYWAY_UNDO = re.compile(r"^U\d+(\.\d+)*__")
_FLYWAY = re.compile(r"^[VR]\d*(\.\d+)*__")


@dataclass(frozen=True)
class SqlSource:
    text: str
    assume_in_transaction: bool | None  # None: use the configured default


def is_down_file(name: str) -> bool:
    """Whether the file called ``name`` holds only a "down" migration."""
    lower = name.lower()
    return lower.endswith(".down.sql") or lower == "down.sql" or bool(_FLYWAY_UNDO.match(name))


def prepare(path: Path, text: str) -> SqlSource:
    """The SQL to lint for ``path`` and whether its tool wraps it in a transaction."""
    assume: bool | None = None
    lowered = text.lower()  # an ignore-case regex search costs ~10x more than this
    if "migrate:" not in lowered and "goose" not in lowered:  # most files: no markers at all
        flavoured = _FLYWAY.match(path.name) or path.name == "up.sql"
        return SqlSource(text, True if flavoured else None)
    down = _DOWN_MARKERS.search(text)
    if down:
        kept, dropped = text[: down.start()], text[down.start() :]
        text = kept + re.sub(r"[^\n]", " ", dropped)
    if _UP_MARKERS.search(text):  # dbmate and goose run each migration in a transaction
        assume = not _NO_TX.search(text)
    elif _FLYWAY.match(path.name) or path.name == "up.sql":  # Flyway, diesel: transactional
        assume = True
    return SqlSource(text, assume)
