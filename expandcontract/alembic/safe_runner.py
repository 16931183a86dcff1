"""ec's safe runner, on Alembic's own connection: every group of statements an operation
emits runs under ``lock_timeout``, is retried on a lock timeout with ec's capped, jittered
backoff (expandcontract/runner/policy.py), and a final failure names who held the lock
(expandcontract/runner/blockers.py watches ``pg_blocking_pids`` while a statement waits).

It runs on Alembic's connection, not on a session of its own as ``SafeRunner`` does: a
statement inside the migration transaction must see (and must not wait for) what the same
revision did before it. Inside a transaction each attempt is a SAVEPOINT with ``SET LOCAL
lock_timeout``, so a timed-out attempt rolls back alone; in an autocommit block the setting
is made for the session and put back afterwards. Offline (``--sql``) the statements are
printed once, after a ``SET lock_timeout``."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic.util import CommandError

from expandcontract.alembic.binding import database_url
from expandcontract.errors import LockRetryExhausted, StepFailed
from expandcontract.events import Blocker
from expandcontract.runner.blockers import LockWatcher
from expandcontract.runner.policy import RetryPolicy

T = TypeVar("T")

_RETRYABLE_STATES = ("55P03", "40P01", "40001")  # lock timeout, deadlock, serialization
_SET_LOCK_TIMEOUT = sa.text("SELECT set_config('lock_timeout', :value, :local)")


class SafeOpLockTimeout(LockRetryExhausted, CommandError):
    """The retries ran out waiting for a lock (Alembic's CLI prints it as ``FAILED: …``)."""


class SafeOpFailed(StepFailed, CommandError):
    """A statement of a safe operation failed for a reason retrying does not fix."""


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error wrapped by SQLAlchemy (psycopg 3 or psycopg2)."""
    orig = getattr(exc, "orig", exc)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return state if isinstance(state, str) else None


class ExternalTransaction(CommandError):
    """env.py began the transaction itself: Alembic cannot step out of it."""


def is_autocommit(connection: Any) -> bool:
    """Inside ``MigrationContext.autocommit_block()``, or on a connection (or engine) set up
    with ``isolation_level="AUTOCOMMIT"``: no server transaction to step out of."""
    if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return True
    # an engine created with isolation_level="AUTOCOMMIT" sets it on the driver's connection
    # (psycopg and psycopg2 both say so in .autocommit); SQLAlchemy's get_isolation_level()
    # only reports the four real levels
    driver = getattr(connection.connection, "dbapi_connection", None)
    return bool(getattr(driver, "autocommit", False))


def require_own_transaction(migration_context: Any, what: str) -> None:
    """Alembic's ``autocommit_block`` commits the migration transaction Alembic began; one
    env.py began (``with engine.begin() as connection:``) it cannot commit, and it fails with
    a bare AssertionError. Say what to change instead."""
    if migration_context.as_sql or is_autocommit(migration_context.connection):
        return
    external = getattr(migration_context, "_in_external_transaction", None)
    if external is None:  # an Alembic without the flag: the same test it makes
        external = migration_context._transaction is None and (
            migration_context.connection.in_transaction()
        )
    if external:
        raise ExternalTransaction(
            f"{what} must run outside a transaction, but env.py began the transaction itself "
            "(`with engine.begin() as connection:`), which Alembic cannot commit part-way. "
            "In env.py, open the connection with `with connectable.connect() as connection:` "
            "and run the migrations in `with context.begin_transaction():`, as Alembic's own "
            "env.py template does"
        )


class AlembicSafeRunner:
    """Runs the statement groups of operations on one migration context."""

    def __init__(
        self,
        migration_context: Any,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ctx = migration_context
        self.policy = policy
        self._sleep = sleep
        self._watcher: LockWatcher | None = None
        self._pid: int | None = None
        self._outside = 0  # depth of outside_transaction() blocks

    @property
    def offline(self) -> bool:
        return bool(self.ctx.as_sql)

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None

    # -- statements -------------------------------------------------------------------------
    def emit(self, statement: str | sa.TextClause | Any) -> None:
        """One statement through Alembic's impl (run online, printed offline). ``str`` is
        plain SQL text (already quoted by psycopg.sql), not a SQLAlchemy text() template."""
        if isinstance(statement, str):
            statement = sa.text(statement.replace(":", "\\:"))
        self.ctx.impl.execute(statement)

    def emit_lock_timeout(self) -> None:
        """Offline: ``SET lock_timeout`` for the psql session that will run the script."""
        self.emit(f"SET lock_timeout = '{int(self.policy.lock_timeout_ms)}ms'")

    def query(self, statement: sa.TextClause, **params: Any) -> list[Any]:
        """A catalog read on Alembic's connection (online only)."""
        return list(self.ctx.connection.execute(statement, params).fetchall())

    @contextlib.contextmanager
    def outside_transaction(self) -> Iterator[None]:
        """Alembic's ``autocommit_block`` (COMMIT … BEGIN offline), unless already in one."""
        if self._outside or (not self.offline and is_autocommit(self.ctx.connection)):
            yield  # nested (offline, nothing else says so): one COMMIT ... BEGIN around all
            return
        require_own_transaction(self.ctx, "ec.safe_ops")
        with self.ctx.autocommit_block():
            self._outside += 1
            try:
                yield
            finally:
                self._outside -= 1

    def run(self, description: str, work: Callable[[], T]) -> T:
        """``work()`` (which emits statements through Alembic's impl) under lock_timeout,
        retried on lock timeouts within ec's budget."""
        if self.offline:
            return work()
        conn = self.ctx.connection
        started = time.monotonic()
        attempts = 0
        blockers: tuple[Blocker, ...] = ()
        while True:
            attempts += 1
            watcher = self._watch()
            try:
                return self._attempt(conn, work)
            except sa.exc.DBAPIError as exc:
                blockers = (watcher.stop() if watcher else ()) or blockers
                state = sqlstate(exc)
                elapsed_ms = (time.monotonic() - started) * 1000
                if not (
                    state in _RETRYABLE_STATES
                    and attempts < self.policy.max_attempts
                    and elapsed_ms < self.policy.max_total_ms
                ):
                    raise self._error(description, exc, attempts, started, blockers) from exc
            finally:
                if watcher is not None:
                    watcher.stop()
            delay_ms = min(self.policy.delay_ms(attempts), self.policy.max_total_ms - elapsed_ms)
            self._sleep(max(0.0, delay_ms) / 1000)

    def _attempt(self, conn: Any, work: Callable[[], T]) -> T:
        timeout = f"{int(self.policy.lock_timeout_ms)}ms"
        previous = conn.execute(sa.text("SELECT current_setting('lock_timeout')")).scalar()
        if is_autocommit(conn):
            conn.execute(_SET_LOCK_TIMEOUT, {"value": timeout, "local": False})
            try:
                return work()
            finally:
                if not conn.invalidated:
                    conn.execute(_SET_LOCK_TIMEOUT, {"value": previous, "local": False})
        with conn.begin_nested():
            conn.execute(_SET_LOCK_TIMEOUT, {"value": timeout, "local": True})
            result = work()
        # SET LOCAL outlives the released savepoint: give the rest of the migration
        # transaction (Alembic's version bookkeeping, unintercepted SQL) its own setting back.
        conn.execute(_SET_LOCK_TIMEOUT, {"value": previous, "local": True})
        return result

    def _watch(self) -> LockWatcher | None:
        """Who blocks this statement: a second session samples pg_blocking_pids while it
        waits (after a lock timeout the wait is over and the answer gone)."""
        try:
            if self._watcher is None:
                # sample early enough to see the holder within even a short lock_timeout;
                # the watcher's session stays open across attempts
                early = min(0.05, self.policy.lock_timeout_ms / 5000)
                self._watcher = LockWatcher(database_url(self.ctx), interval_s=early, grace_s=early)
            if self._pid is None:
                self._pid = int(
                    self.ctx.connection.execute(sa.text("SELECT pg_backend_pid()")).scalar()
                )
        except Exception:  # diagnostics must never stop the migration they observe
            return None
        self._watcher.start(self._pid)
        return self._watcher

    def _error(
        self,
        description: str,
        exc: sa.exc.DBAPIError,
        attempts: int,
        started: float,
        blockers: tuple[Blocker, ...],
    ) -> Exception:
        orig = getattr(exc, "orig", exc)
        text = str(orig).strip()
        first = text.splitlines()[0] if text else type(orig).__name__
        elapsed = time.monotonic() - started
        if sqlstate(exc) in _RETRYABLE_STATES:
            who = (
                "; blocked by " + "; ".join(b.describe() for b in blockers)
                if blockers
                else "; the blocking session had already gone when ec looked"
            )
            pids = ", ".join(str(b.pid) for b in blockers) or "<pid>"
            return SafeOpLockTimeout(
                f"{description} could not take its lock after {attempts} attempt(s) in "
                f"{elapsed:.1f}s (lock_timeout {self.policy.lock_timeout_ms}ms each): "
                f"{first}{who}",
                f"finish or cancel the blocking session (SELECT pg_cancel_backend({pids})) and "
                "run the upgrade again (Alembic rolled back its open migration transaction)",
            )
        return SafeOpFailed(f"{description} failed: {first} [SQLSTATE {sqlstate(exc) or '?'}]")
