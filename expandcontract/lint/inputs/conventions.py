"""How each migration tool runs a ``.sql`` file: one table, and the detection that picks a row.

Every fact here was read in the tool's own source or docs (docs/lint_tools.md cites them).
What decides the findings of the transaction-sensitive rules is *how the file reaches the
server* (a ``Mode``), not whether the tool says "transaction":

- ``tool``: the tool sends BEGIN … COMMIT around the file;
- ``one-query``: the tool sends the whole file as one simple-protocol Query; PostgreSQL runs
  a message of two or more statements as one implicit transaction, a single statement alone;
- ``per-statement``: the tool sends statement after statement, each one autocommits;
- ``as-written``: psql runs the script; its own BEGIN/COMMIT decide.

A file is linted in parts: its "up" part in its own phase, its down/revert part (a separate
file, or a down section of the same file) in the ``rollback`` phase. Other parts are blanked
character for character, so line and column numbers stay exact.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import PurePath

TOOL = "tool"
ONE_QUERY = "one-query"
PER_STATEMENT = "per-statement"
AS_WRITTEN = "as-written"


@dataclass(frozen=True)
class Convention:
    id: str
    detected_by: str
    runs: str  # the Mode of a file that does not opt out
    opt_out: str  # how one file opts out ("" when it cannot)
    opted_out: str  # the Mode of a file that opted out
    down: str  # what its down/revert migration is
    source: str  # where the facts come from (the tool's repository and path)


CONVENTIONS: tuple[Convention, ...] = (
    Convention("diesel", "up.sql / down.sql in a migration folder", TOOL,
               "metadata.toml next to it with run_in_transaction = false (or without the key)",
               ONE_QUERY, "down.sql in the same folder",
               "diesel-rs/diesel diesel_migrations/src/{file_based_migrations,"
               "migration_harness}.rs; migrations_internals/src/lib.rs (TomlMetadata)"),
    Convention("golang-migrate", "<n>_<title>.up.sql / <n>_<title>.down.sql", ONE_QUERY,
               "", ONE_QUERY, "the .down.sql file",
               "golang-migrate/migrate database/postgres/{postgres.go,README.md}; "
               "source/parse.go"),
    Convention("golang-migrate-multi-statement", "never detected: set migration-tool",
               PER_STATEMENT, "", PER_STATEMENT, "the .down.sql file",
               "golang-migrate/migrate database/postgres/README.md (x-multi-statement)"),
    Convention("golang-migrate-use-transaction", "never detected: set migration-tool", TOOL,
               "", TOOL, "the .down.sql file",
               "golang-migrate/migrate database/postgres/README.md (x-use-transaction)"),
    Convention("prisma", "migration.sql", ONE_QUERY, "", ONE_QUERY,
               "none generated; a down.sql next to migration.sql is linted as rollback",
               "prisma/prisma-engines schema-engine/connectors/sql-schema-connector/src/"
               "flavour/postgres/connector/native/mod.rs (apply_migration_script)"),
    Convention("flyway", "V<version>__<desc>.sql, R__<desc>.sql, U<version>__<desc>.sql",
               TOOL, "V1__x.sql.conf next to it with executeInTransaction=false",
               PER_STATEMENT, "U<version>__<desc>.sql (undo)",
               "flyway/flyway flyway-core/.../sqlscript/{ParserSqlScript,SqlScriptMetadata}"
               ".java; flyway-database-postgresql/.../PostgreSQLParser.java"),
    Convention("sqitch", "deploy/, revert/, verify/ folders next to sqitch.plan", AS_WRITTEN,
               "leave BEGIN/COMMIT out of the script", AS_WRITTEN, "revert/<change>.sql",
               "sqitchers/sqitch lib/App/Sqitch/Engine/pg.pm (run_file); "
               "etc/templates/deploy/pg.tmpl"),
    Convention("rails", "db/migrate/<timestamp>_<name>.sql", TOOL,
               "disable_ddl_transaction! in the Ruby migration that runs it (not visible "
               "in the .sql file)", ONE_QUERY, "none for .sql files",
               "rails/rails activerecord/lib/active_record/migration.rb"),
    Convention("dbmate", "-- migrate:up / -- migrate:down", TOOL,
               "-- migrate:up transaction:false (per section)", ONE_QUERY,
               "the -- migrate:down section", "amacneil/dbmate pkg/dbmate/{migration,db}.go"),
    Convention("goose", "-- +goose Up / -- +goose Down", TOOL, "-- +goose NO TRANSACTION",
               PER_STATEMENT, "the -- +goose Down section",
               "pressly/goose internal/sqlparser/parser.go; migration_sql.go"),
    Convention("alembic", "never detected for .sql: `alembic upgrade --sql` output",
               AS_WRITTEN, "autocommit_block() (rendered as COMMIT … BEGIN)", AS_WRITTEN,
               "downgrade() of the revision",
               "sqlalchemy/alembic alembic/runtime/migration.py; alembic/ddl/postgresql.py"),
    Convention("plain", "anything else", "", "", "", "none",
               "no tool: assume-in-transaction decides"),
)  # fmt: skip

BY_ID = {c.id: c for c in CONVENTIONS}
AUTO = "auto"
CHOICES = (AUTO, *BY_ID)

_GOOSE = re.compile(r"^--.*\+goose\s+(up|down)\b", re.I | re.M)
_GOOSE_NO_TX = re.compile(r"^--.*\+goose\s+no\s+transaction\b", re.I | re.M)
_DBMATE = re.compile(r"^--\s*migrate:(up|down)\b([^\n]*)", re.M)
_GOLANG = re.compile(r"^\d+_.*\.(up|down)\.sql$", re.I)
_FLYWAY = re.compile(r"^(?:([VU])\d+(?:[._]\d+)*|R)__.*\.sql$")
_RAILS = re.compile(r"^\d+_[_a-z0-9]*\.sql$")
_SQITCH_DIRS = {"deploy": "", "revert": "rollback", "verify": ""}
# schema dumps next to migrations, not migrations: left out when a folder is walked
_DUMPS = (("db", "structure.sql"), ("db", "schema.sql"))
# statements Flyway's PostgreSQL parser marks non-transactional (detectCanExecuteInTransaction)
_FLYWAY_NON_TX = re.compile(
    r"^\s*(?:(?:CREATE|DROP)\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY|ALTER\s+SYSTEM|VACUUM"
    r"|(?:CREATE|DROP)\s+(?:DATABASE|TABLESPACE|SUBSCRIPTION)|DISCARD\s+ALL"
    r"|REINDEX(?:\s+VERBOSE)?\s+(?:SCHEMA|DATABASE|SYSTEM))\b",
    re.I | re.M,
)
_ADD_VALUE = re.compile(r"^\s*ALTER\s+TYPE\s[^;]*?\sADD\s+VALUE\b", re.I | re.M)
# a transaction the file opens itself (a plpgsql block's BEGIN has no `;` on its line)
_OWN_TX = re.compile(
    r"^\s*(?:BEGIN\s*;|BEGIN\s+(?:WORK|TRANSACTION|ISOLATION|READ|DEFERRABLE|NOT)\b[^;\n]*;"
    r"|START\s+TRANSACTION\b[^;\n]*;)",
    re.I | re.M,
)


@dataclass(frozen=True)
class Part:
    """What one lint pass sees: the file with the other parts blanked."""

    text: str
    phase: str  # "" or "rollback"
    mode: str  # a Mode, or "" for the configured default
    section: bool = False  # a down section inside the file (not a file of its own)
    auto_non_transactional: bool = False  # Flyway: all non-transactional statements → none


@dataclass(frozen=True)
class Detected:
    tool: str
    parts: tuple[Part, ...]


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


@functools.lru_cache(maxsize=512)
def _listing(directory: str, mtime_ns: int) -> frozenset[str]:
    """A folder's entries; keyed by its mtime, which changes when an entry is added."""
    try:
        return frozenset(os.listdir(directory))
    except OSError:
        return frozenset()


def _entries(directory: str) -> frozenset[str]:
    try:
        return _listing(directory, os.stat(directory).st_mtime_ns)
    except OSError:
        return frozenset()


def _sqitch_phase(path: PurePath, require_plan: bool) -> str | None:
    """The phase of a script under deploy/ revert/ verify/ of a Sqitch project, else None."""
    if _SQITCH_DIRS.keys().isdisjoint(path.parts[:-1]):  # nearly every file: no such folder
        return None
    for folder in path.parents:
        if folder.name in _SQITCH_DIRS and (
            not require_plan or "sqitch.plan" in _entries(str(folder.parent))
        ):
            return _SQITCH_DIRS[folder.name]
    return None


def _diesel_in_transaction(path: PurePath) -> bool:
    """diesel reads metadata.toml with serde: a missing or unreadable file means the default
    (true), a file without the key means false (``#[serde(default)] run_in_transaction``)."""
    try:
        with open(path.parent / "metadata.toml", "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return True
    return data.get("run_in_transaction", False) is True


def _flyway_override(path: PurePath) -> bool | None:
    """``executeInTransaction`` from the script configuration file ``<script>.conf``."""
    if path.name + ".conf" not in _entries(str(path.parent)):
        return None
    try:
        with open(f"{path}.conf", encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "executeInTransaction":
            return value.strip().lower() == "true"
    return None


def is_dump(path: PurePath) -> bool:
    return (path.parent.name, path.name) in _DUMPS


def detect_tool(path: PurePath, text: str) -> str:
    """The convention of a file from its markers, folders and name, most specific first."""
    if "goose" in text and _GOOSE.search(text):
        return "goose"
    if "migrate:" in text and _DBMATE.search(text):
        return "dbmate"
    name = path.name
    if _sqitch_phase(path, require_plan=True) is not None:
        return "sqitch"
    if name == "migration.sql" or (
        name == "down.sql" and "migration.sql" in _entries(str(path.parent))
    ):
        return "prisma"
    if name in ("up.sql", "down.sql"):
        return "diesel"
    if _GOLANG.match(name):
        return "golang-migrate"
    if _FLYWAY.match(name):
        return "flyway"
    if path.parent.name == "migrate" and path.parent.parent.name == "db" and _RAILS.match(name):
        return "rails"
    return "plain"


def outside_facts(path: str) -> str:
    """What findings depend on besides the file's bytes and name: its folders and the
    sidecar files its tool reads ("" for most files). Part of the cache key."""
    pure = PurePath(path)
    parts = []
    sqitch = _sqitch_phase(pure, require_plan=True)
    if sqitch is not None:
        parts.append(f"sqitch={sqitch}")
    if pure.name in ("up.sql", "down.sql"):
        parts.append(f"diesel-tx={_diesel_in_transaction(pure)}")
        parts.append(f"prisma={'migration.sql' in _entries(str(pure.parent))}")
    elif _FLYWAY.match(pure.name):
        parts.append(f"flyway-tx={_flyway_override(pure)}")
    elif _RAILS.match(pure.name) and (pure.parent.name, pure.parent.parent.name) == (
        "migrate",
        "db",
    ):
        parts.append("rails")
    return "|".join(parts)


def _sections(text: str, marker: re.Pattern[str]) -> list[tuple[str, int, int, str]]:
    """(direction, start, end, options) of each marked section, in file order."""
    found = list(marker.finditer(text))
    out = []
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(text)
        options = match.group(2) if match.re is _DBMATE else ""
        out.append((match.group(1).lower(), match.start(), end, options))
    return out


def _split_sections(text: str, marker: re.Pattern[str], mode_of: dict[str, str]) -> list[Part]:
    sections = _sections(text, marker)
    parts = []
    for direction in ("up", "down"):
        mine = [s for s in sections if s[0] == direction]
        if not mine:
            continue
        kept = text
        for other in (s for s in sections if s[0] != direction):
            kept = _blank(kept, other[1], other[2])
        mode = mode_of[direction] if direction in mode_of else mode_of["*"]
        phase = "rollback" if direction == "down" else ""
        parts.append(Part(kept, phase, mode, section=direction == "down"))
    return parts


def _dbmate_modes(text: str) -> dict[str, str]:
    modes = {"*": TOOL}
    for direction, _, _, options in _sections(text, _DBMATE):
        if "transaction:false" in options.split():
            modes[direction] = ONE_QUERY
    return modes


def detect(path: PurePath, text: str, tool: str = AUTO) -> Detected:
    """The parts of ``text`` to lint, each with its phase and how the tool runs it."""
    if tool == AUTO:
        tool = detect_tool(path, text)
    name = path.name
    if tool == "goose":
        mode = PER_STATEMENT if _GOOSE_NO_TX.search(text) else TOOL
        return Detected(tool, tuple(_split_sections(text, _GOOSE, {"*": mode})))
    if tool == "dbmate":
        return Detected(tool, tuple(_split_sections(text, _DBMATE, _dbmate_modes(text))))
    phase, mode, auto = "", BY_ID[tool].runs, False
    if tool == "diesel":
        phase = "rollback" if name == "down.sql" else ""
        mode = TOOL if _diesel_in_transaction(path) else ONE_QUERY
    elif tool == "prisma":
        phase = "rollback" if name == "down.sql" else ""
    elif tool.startswith("golang-migrate"):
        phase = "rollback" if name.lower().endswith(".down.sql") else ""
    elif tool == "flyway":
        phase = "rollback" if name.startswith("U") else ""
        override = _flyway_override(path)
        if override is not None:
            mode = TOOL if override else PER_STATEMENT
        auto = override is None
    elif tool == "sqitch":
        phase = _sqitch_phase(path, require_plan=False) or ""
    return Detected(tool, (Part(text, phase, mode, auto_non_transactional=auto),))


def flyway_auto_non_transactional(text: str, statements: int, pg_version: int) -> bool:
    """Flyway runs a script without a transaction when every statement is one its PostgreSQL
    parser marks non-transactional (no ``.conf`` override)."""
    count = len(_FLYWAY_NON_TX.findall(text))
    if pg_version < 12:
        count += len(_ADD_VALUE.findall(text))
    return statements > 0 and count >= statements


def opens_own_transaction(text: str) -> bool:
    return bool(_OWN_TX.search(text))


def is_down_file(name: str) -> bool:
    """Whether the file called ``name`` holds only a down/undo migration (by name alone)."""
    lower = name.lower()
    return lower.endswith(".down.sql") or lower == "down.sql" or bool(_flyway_undo(name))


def _flyway_undo(name: str) -> bool:
    match = _FLYWAY.match(name)
    return bool(match and match.group(1) == "U")
