"""Error types. Every error ec raises on purpose carries one clear sentence and a hint to act on."""

from __future__ import annotations

import re

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class ECError(Exception):
    """Base class: an operation failed in a way ec understands (exit code 1)."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


class ConfigError(ECError):
    """Bad settings, flags or configuration file (exit code 2)."""

    exit_code = EXIT_USAGE


class ServerUnavailable(ECError):
    """A PostgreSQL server provider cannot start a server here."""


class LockRetryExhausted(ECError):
    """A step could not get its lock within the retry budget."""


class StepFailed(ECError):
    """A statement failed for a reason that retrying will not fix."""


class LedgerBusy(ECError):
    """Another ec process holds the per-database advisory lock."""


class LedgerError(ECError):
    """The ledger is missing, too new, or inconsistent."""


class PrivilegeError(ECError):
    """The role ec connects as lacks a privilege ec needs (SQLSTATE 42501)."""


class ConnectionLost(ECError):
    """The connection to the database broke while a command ran."""


PRIVILEGES_DOC = 'docs/safety.md, "Privileges ec needs"'
INSUFFICIENT_PRIVILEGE = "42501"
# Server going away (admin/crash shutdown, cannot connect now) and the connection_exception class.
_CONNECTION_LOST_SQLSTATES = ("57P01", "57P02", "57P03", "08")
# The tables of ec's ledger (ledger/schema.py); tests/test_errors.py checks this list.
LEDGER_TABLES = frozenset(
    ("meta", "migrations", "phases", "steps", "backfills", "backfill_ranges", "backfill_batches")
)

_OWNER = re.compile(r"must be owner of (?P<kind>[a-z ]+?) (?P<name>\S+)$")
_DENIED = re.compile(r"permission denied for (?P<kind>[a-z ]+?) (?P<name>\S+)$")
_CONNECT = re.compile(r'permission denied for database "?(?P<name>[^"\s]+)')
_TEMP = re.compile(r'permission denied to create temporary tables in database "?(?P<name>[^"]+)"?')


def quote_ident(name: str) -> str:
    """``name`` as an SQL identifier, for the GRANT statements in hints."""
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'


def privilege_hint(
    message: str, *, role: str | None = None, ledger_schema: str = "expandcontract"
) -> str:
    """What to grant (or whom to run as) for one PostgreSQL permission error message."""
    who = quote_ident(role) if role else "<ec's role>"
    see = f"; see {PRIVILEGES_DOC}"
    first = message.strip().splitlines()[0] if message.strip() else ""
    if "does not have CONNECT privilege" in message:
        db = _CONNECT.search(message)
        target = quote_ident(db.group("name")) if db else "<database>"
        return f"GRANT CONNECT ON DATABASE {target} TO {who}{see}"
    if m := _TEMP.search(first):
        return (
            f"ec checks column defaults in a temporary table (nothing is stored): "
            f"GRANT TEMPORARY ON DATABASE {quote_ident(m.group('name'))} TO {who}{see}"
        )
    if m := _OWNER.search(first):
        kind, name = m.group("kind"), m.group("name").strip('"')
        if kind == "database":
            return (
                "`ec switch --search-path database` runs ALTER DATABASE … SET search_path, "
                f"which only the owner of database {name} may run: run it as that owner, or "
                f"use --search-path role:NAME{see}"
            )
        handover = (
            f", or hand it over: ALTER TABLE {quote_ident(name)} OWNER TO {who}"
            if kind == "table"
            else ""
        )
        return (
            f"PostgreSQL lets only the owner of {kind} {name} change it: run ec as that owner, "
            f"or make {who} a member of the owning role (GRANT <owner> TO {who}){handover}{see}"
        )
    if m := _DENIED.search(first):
        kind, name = m.group("kind"), m.group("name").strip('"')
        ident = quote_ident(name)
        if kind == "database":
            return (
                "ec creates its ledger schema and one schema per migration (the new version's "
                f"views): GRANT CREATE ON DATABASE {ident} TO {who}{see}"
            )
        if kind == "schema" and name == ledger_schema:
            return (
                f"ec reads and writes its ledger in schema {name}: GRANT USAGE ON SCHEMA {ident} "
                f"TO {who}; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {ident} "
                f"TO {who} (SELECT is enough for `ec status`), or run ec as the role that "
                f"created the ledger{see}"
            )
        if kind == "schema":
            return (
                f"ec reads schema {name} and creates tables and its dual-write trigger "
                f"functions in it: GRANT USAGE, CREATE ON SCHEMA {ident} TO {who}{see}"
            )
        if kind == "table" and name in LEDGER_TABLES:
            ledger = quote_ident(ledger_schema)
            return (
                f"if {name} is ec's ledger table: GRANT SELECT, INSERT, UPDATE, DELETE ON ALL "
                f"TABLES IN SCHEMA {ledger} TO {who} (SELECT is enough for `ec status`); if it "
                f"is your table: GRANT SELECT, UPDATE ON {ident} TO {who} for `ec backfill`, or "
                f"run migrations as its owner{see}"
            )
        if kind in ("table", "relation", "view", "materialized view", "sequence"):
            return (
                f"`ec backfill` needs SELECT and UPDATE on the table it changes: GRANT SELECT, "
                f"UPDATE ON {ident} TO {who}; migrations need the table's owner{see}"
            )
    if "permission denied to alter role" in first:
        return (
            "`ec switch --search-path role:NAME` runs ALTER ROLE NAME SET search_path: run it "
            f"as that role, or as a role with CREATEROLE and the ADMIN option on it{see}"
        )
    return (
        f"grant {who} the privilege named above, or run ec as the owner of the tables and "
        f"schemas it changes{see}"
    )


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _sqlstate(exc: BaseException) -> str | None:
    value = getattr(exc, "sqlstate", None)
    return value if isinstance(value, str) else None


def _primary(exc: BaseException) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = str(primary or exc).strip()
    detail = getattr(diag, "message_detail", None) if diag is not None else None
    return f"{text} ({detail.strip()})" if detail else text


def privilege_error(
    exc: BaseException,
    *,
    role: str | None = None,
    ledger_schema: str = "expandcontract",
    doing: str | None = None,
) -> PrivilegeError | None:
    """A PrivilegeError naming the missing privilege and the GRANT that fixes it, for a
    permission error anywhere in ``exc``'s chain; None when there is none."""
    for error in _chain(exc):
        if _sqlstate(error) == INSUFFICIENT_PRIVILEGE:
            denied = _primary(error)
            who = f"role {role!r}" if role else "the role ec connects as"
            prefix = f"{doing}: " if doing else ""
            return PrivilegeError(
                f"{prefix}{who} lacks a privilege ec needs: {denied}",
                privilege_hint(denied, role=role, ledger_schema=ledger_schema),
            )
    return None


def connection_lost_error(exc: BaseException, *, doing: str | None = None) -> ConnectionLost | None:
    """A ConnectionLost for a broken connection anywhere in ``exc``'s chain (server restart,
    terminated session, network); None for any other error."""
    for error in _chain(exc):
        names = {cls.__name__ for cls in type(error).__mro__}
        if not type(error).__module__.startswith("psycopg"):
            continue
        state = _sqlstate(error)
        lost = (
            (state is not None and state.startswith(_CONNECTION_LOST_SQLSTATES))
            or ("OperationalError" in names and state is None)
            or ("InterfaceError" in names and "connection" in str(error).lower())
        )
        if lost:
            prefix = f"{doing}: " if doing else ""
            reason = str(error).strip().splitlines()[0] if str(error).strip() else "no reason"
            return ConnectionLost(
                f"{prefix}lost the connection to the database: {reason}",
                "the server restarted or ec's session was terminated. ec records each finished "
                "step in its ledger: once the server accepts connections, run the same command "
                "again and it continues where it stopped (`ec status` shows where that is)",
            )
    return None
