"""Connections that come back: ``connect()`` waits out a restarting server for a bounded time
(capped, jittered backoff) and fails fast on what waiting cannot fix (bad password, unknown
database); ``is_alive`` notices a session the server ended while ec was idle; ``Reconnecting``
runs work on a connection that is re-opened when it is lost.

Connection errors carry no SQLSTATE in psycopg (there is no result), so they are told apart
by libpq's and the server's message text.
"""

from __future__ import annotations

import logging
import os
import re
import select
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict

from expandcontract.dsn import display_dsn, display_text, to_psycopg
from expandcontract.errors import ConfigError, StepFailed
from expandcontract.runner.policy import RetryPolicy

Connection = psycopg.Connection[tuple[Any, ...]]
T = TypeVar("T")

log = logging.getLogger("expandcontract")

# The default bound: the runner's retry budget (retry_max_time, 60 s).
DEFAULT_RETRY_S = RetryPolicy().max_total_ms / 1000
_BACKOFF = RetryPolicy()
_CONNECT_TIMEOUT_S = 10  # per attempt; libpq waits forever by default

# Waiting helps: the server is (re)starting, shutting down, in recovery, full, or unreachable.
_TRANSIENT = re.compile(
    r"the database system is (starting up|shutting down|in recovery mode|not yet accepting"
    r"|not accepting)|connection refused|no such file or directory|server closed the connection"
    r"|terminating connection due to (administrator command|unexpected postmaster exit)"
    r"|crash of another server process|consistent recovery state|timeout expired|timed out"
    r"|connection reset|too many clients|connection slots are reserved|could not (receive|send)"
    r" data|eof detected|network is unreachable|no route to host",
    re.I,
)
# Waiting does not help; each with what to check.
_FATAL_HINTS = (
    (
        re.compile(r"password|authentication failed|fe_sendauth", re.I),
        "check the user name and password in the database URL (or ~/.pgpass, PGPASSWORD)",
    ),
    (
        re.compile(r'database ".*" does not exist', re.I),
        "check the database name in the URL: ec connects to an existing database",
    ),
    (
        re.compile(r'role ".*" does not exist', re.I),
        "check the user name in the database URL",
    ),
    (
        re.compile(r"pg_hba\.conf", re.I),
        "the server's pg_hba.conf does not let this user connect from here: ask its admin",
    ),
    (
        re.compile(r"permission denied for database|not permitted to log in", re.I),
        "the role needs LOGIN and CONNECT on the database (GRANT CONNECT ON DATABASE ... TO ...)",
    ),
    (
        re.compile(r"could not translate host name", re.I),
        "check the host name in the database URL",
    ),
)


class ConnectionFailed(StepFailed):
    """ec could not (re)connect: at once for errors waiting cannot fix, or after retrying
    a transient one (``transient``) for the whole budget."""

    def __init__(
        self, message: str, hint: str | None = None, *, transient: bool, reason: str = ""
    ) -> None:
        super().__init__(message, hint)
        self.transient = transient
        self.reason = reason or message  # the server's or libpq's own words


def is_transient(exc: BaseException) -> bool:
    """A connection error that may go away by itself (restart, failover, full server)."""
    return isinstance(exc, psycopg.OperationalError) and bool(_TRANSIENT.search(str(exc)))


def is_lost(exc: BaseException, conn: Connection | None) -> bool:
    """``exc`` ended the session (terminated, server restarted): reconnecting may help.
    A statement or lock timeout is an OperationalError too, but leaves the session usable."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    return conn is None or conn.broken or conn.closed or is_transient(exc)


def is_alive(conn: Connection | None) -> bool:
    """False for a session the server has ended, found without a round trip: an idle
    connection has nothing to read unless the server sent its goodbye (57P01) and closed."""
    if conn is None or conn.closed or conn.broken:
        return False
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        return True  # mid-transaction: the next statement tells
    for _ in range(2):  # first the server's FATAL message, then the end of the stream
        try:
            readable, _, _ = select.select([conn.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        if not readable:
            return True
        try:
            conn.pgconn.consume_input()
        except psycopg.OperationalError:
            return False
        if conn.pgconn.status != pq.ConnStatus.OK:
            return False
    return conn.pgconn.status == pq.ConnStatus.OK


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return display_text(text or type(exc).__name__)


def _fatal_hint(reason: str) -> str:
    for pattern, hint in _FATAL_HINTS:
        if pattern.search(reason):
            return hint
    return "check --database-url / EC_DATABASE_URL"


def check_dsn(conninfo: str) -> dict[str, Any]:
    """The DSN's parameters; a usage error (exit 2) when libpq cannot read it."""
    try:
        return conninfo_to_dict(to_psycopg(conninfo))
    except psycopg.ProgrammingError as exc:
        raise ConfigError(
            f"{display_dsn(conninfo)!r} is not a database URL: {_reason(exc)}",
            "write it as postgresql://USER@HOST:PORT/DBNAME or as key=value pairs "
            "(host=... dbname=...)",
        ) from None


_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
               "keepalives_count": 4}  # fmt: skip


def connect(
    conninfo: str,
    *,
    application_name: str = "expandcontract",
    retry_s: float = DEFAULT_RETRY_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Connection:
    """An autocommit connection; ec opens transactions explicitly where it wants them.

    A server that is starting, stopping or unreachable is retried with capped, jittered
    backoff for up to ``retry_s`` seconds; a bad password, database or host fails at once.
    Messages show the user's DSN (password masked, ec's own ``-c`` options removed).
    """
    params = check_dsn(conninfo)
    extra: dict[str, Any] = {}
    if "connect_timeout" not in params and not os.environ.get("PGCONNECT_TIMEOUT"):
        extra["connect_timeout"] = _CONNECT_TIMEOUT_S
    # A network path that dies silently must not hang a statement for the kernel's
    # retransmission time (~15 min): TCP keepalives notice it in about 30 s. Ignored on
    # Unix sockets; the user's own settings win.
    for key, value in _KEEPALIVES.items():
        if key not in params:
            extra[key] = value
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            return psycopg.connect(
                to_psycopg(conninfo), autocommit=True, application_name=application_name, **extra
            )
        except psycopg.OperationalError as exc:
            reason = _reason(exc)
            where = display_dsn(conninfo)
            if not is_transient(exc):
                raise ConnectionFailed(
                    f"cannot connect to {where}: {reason}", _fatal_hint(reason),
                    transient=False, reason=reason,
                ) from None  # fmt: skip
            elapsed = time.monotonic() - started
            if elapsed >= retry_s:
                raise ConnectionFailed(
                    f"cannot connect to {where}: {reason} (still failing after retrying for "
                    f"{retry_s:.3g}s)",
                    "check that the server is running and reachable, then re-run the command: "
                    "ec resumes where it stopped",
                    transient=True,
                    reason=reason,
                ) from None
            if attempt == 1:
                log.warning(
                    "cannot connect to %s yet (%s); retrying for up to %.0fs",
                    where, reason, retry_s,
                )  # fmt: skip
            delay = _BACKOFF.delay_ms(attempt) / 1000
            sleep(max(0.0, min(delay, retry_s - elapsed)))


def lost_for_good(conninfo: str, budget_s: float, reason: str) -> ConnectionFailed:
    return ConnectionFailed(
        f"lost the connection to {display_dsn(conninfo)} and it did not come back within "
        f"{budget_s:.3g}s: {reason}",
        "check that the server is running, then re-run the command: ec resumes where it stopped",
        transient=True,
        reason=reason,
    )


class Reconnecting:
    """One connection that comes back: ``run(fn)`` calls ``fn(conn)`` and, when the session
    is lost, reconnects and calls it again, for up to ``budget_s`` seconds from the first
    loss (reset by a success). ``fn`` must be safe to repeat: reads, idempotent writes, or
    writes that check in the retried transaction whether they already happened."""

    def __init__(
        self,
        conninfo: str,
        *,
        application_name: str,
        budget_s: float = DEFAULT_RETRY_S,
        on_retry: Callable[[BaseException, int], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.conninfo = to_psycopg(conninfo)
        self.application_name = application_name
        self.budget_s = budget_s
        self._on_retry = on_retry
        self._sleep = sleep
        self._conn: Connection | None = None

    @property
    def conn(self) -> Connection:
        return self._ensure(self.budget_s)

    def _ensure(self, retry_s: float) -> Connection:
        if not is_alive(self._conn):
            self.close()
            self._conn = connect(
                self.conninfo, application_name=self.application_name, retry_s=retry_s,
                sleep=self._sleep,
            )  # fmt: skip
        assert self._conn is not None
        return self._conn

    def run(
        self,
        fn: Callable[[Connection], T],
        *,
        budget_s: float | None = None,
        on_retry: Callable[[BaseException, int], None] | None = None,
    ) -> T:
        budget = self.budget_s if budget_s is None else budget_s
        notify = on_retry or self._on_retry
        lost_since: float | None = None
        attempt = 0
        while True:
            spent = 0.0 if lost_since is None else time.monotonic() - lost_since
            try:
                return fn(self._ensure(max(0.0, budget - spent)))
            except ConnectionFailed as exc:
                if lost_since is None or not exc.transient:
                    raise
                raise lost_for_good(self.conninfo, budget, exc.reason) from None
            except psycopg.OperationalError as exc:
                if not is_lost(exc, self._conn):
                    raise
                attempt += 1
                now = time.monotonic()
                lost_since = now if lost_since is None else lost_since
                if now - lost_since >= budget:
                    raise lost_for_good(self.conninfo, budget, _reason(exc)) from None
                if notify is not None:
                    notify(exc, attempt)
                self.close()
                self._sleep(_BACKOFF.delay_ms(attempt) / 1000)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
