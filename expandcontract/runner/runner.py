"""SafeRunner: every statement with lock_timeout + statement_timeout, capped jittered retries,
blocker diagnostics, INVALID-index cleanup and one structured event per statement."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from psycopg import sql

from expandcontract.dsn import mask_dsn, to_psycopg
from expandcontract.errors import LockRetryExhausted, StepFailed
from expandcontract.events import Blocker, EventSink, StatementEvent, log_event
from expandcontract.runner.blockers import LockWatcher
from expandcontract.runner.invalid_index import drop_if_invalid, is_invalid
from expandcontract.runner.policy import RetryPolicy, is_retryable

Connection = psycopg.Connection[tuple[Any, ...]]
Statement = sql.SQL | sql.Composed

# Statements PostgreSQL refuses inside a transaction block.
NON_TRANSACTIONAL = re.compile(
    r"\bCONCURRENTLY\b|^\s*(VACUUM|CREATE\s+DATABASE|DROP\s+DATABASE|ALTER\s+SYSTEM)\b", re.I
)


def connect(conninfo: str, *, application_name: str = "expandcontract") -> Connection:
    """An autocommit connection; ec opens transactions explicitly where it wants them."""
    try:
        return psycopg.connect(
            to_psycopg(conninfo), autocommit=True, application_name=application_name
        )
    except psycopg.OperationalError as exc:
        raise StepFailed(
            f"cannot connect to {mask_dsn(conninfo)}: {mask_dsn(str(exc).strip())}",
            "check --database-url / EC_DATABASE_URL and that the server is running",
        ) from None


@dataclasses.dataclass(frozen=True)
class Step:
    """A unit of work that either happens completely or not at all (where PostgreSQL allows).

    ``transactional=None`` infers it: statements with CONCURRENTLY run in autocommit.
    ``creates_index`` names an index built CONCURRENTLY, so a failed build's INVALID
    leftover is dropped before a retry. ``statement_timeout_ms=0`` means no limit,
    for steps that scan by design (index builds, VALIDATE CONSTRAINT).
    Each statement is sent through the extended protocol, which carries exactly one statement
    (a user expression inside cannot smuggle in a second one); ``multi_statement`` lifts that
    for the raw ``sql`` escape hatch only.
    """

    description: str
    statements: tuple[Statement, ...]
    transactional: bool | None = None
    lock_timeout_ms: int | None = None
    statement_timeout_ms: int | None = None
    creates_index: tuple[str, str] | None = None
    multi_statement: bool = False

    @classmethod
    def of(cls, description: str, *statements: Statement, **kwargs: Any) -> Step:
        return cls(description, tuple(statements), **kwargs)

    def is_transactional(self, conn: Connection) -> bool:
        if self.transactional is not None:
            return self.transactional
        return not any(NON_TRANSACTIONAL.search(s.as_string(conn)) for s in self.statements)


_SKIPPED = object()


@dataclasses.dataclass(frozen=True)
class StepResult:
    attempts: int
    duration_ms: float
    lock_wait_ms: float
    rows: list[tuple[Any, ...]] | None
    skipped: bool = False


class SafeRunner:
    """Runs Steps against one database. Use as a context manager, or call close()."""

    def __init__(
        self,
        conninfo: str,
        *,
        policy: RetryPolicy | None = None,
        sink: EventSink | None = log_event,
        application_name: str = "expandcontract",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.conninfo = to_psycopg(conninfo)
        self.policy = policy or RetryPolicy()
        self.sink = sink
        self.application_name = application_name
        self._sleep = sleep
        self._conn: Connection | None = None
        self._watcher = LockWatcher(self.conninfo)
        self.events: list[StatementEvent] = []

    # -- connection -------------------------------------------------------------------------
    @property
    def conn(self) -> Connection:
        if self._conn is None or self._conn.broken or self._conn.closed:
            self._conn = connect(self.conninfo, application_name=self.application_name)
        return self._conn

    def close(self) -> None:
        self._watcher.close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> SafeRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running ----------------------------------------------------------------------------
    def run(
        self,
        step: Step,
        *,
        skip_if: Callable[[Connection], bool] | None = None,
        record: Callable[[Connection], None] | None = None,
    ) -> StepResult:
        """Run ``step`` with retries.

        ``skip_if(conn)`` is asked at the start of every attempt, inside the step's transaction
        when it has one: a resumed run skips finished work, and an attempt whose COMMIT was
        lost with the connection is not repeated.
        ``record(conn)`` runs in the step's own transaction, so the ledger entry and the
        change commit together; for autocommit steps it runs right after success.
        """
        if not step.statements:
            raise StepFailed(f"step {step.description!r} has no statements")
        transactional = step.is_transactional(self.conn)
        if not transactional and len(step.statements) != 1:
            raise StepFailed(
                f"step {step.description!r} mixes a non-transactional statement with others",
                "split CONCURRENTLY statements into steps of their own",
            )
        track = _Tracker(step, "; ".join(s.as_string(self.conn) for s in step.statements))
        track.transactional = transactional
        while True:
            track.attempts += 1
            if not transactional and skip_if is not None and skip_if(self.conn):
                track.attempts -= 1
                return self._finish(track, "skipped", None)
            self._watcher.start(self.conn.info.backend_pid)
            attempt_started = time.monotonic()
            try:
                if step.creates_index:
                    drop_if_invalid(
                        self.conn, *step.creates_index, lock_timeout_ms=self._lock_ms(step)
                    )
                rows = self._attempt(step, transactional, skip_if, record)
            except psycopg.Error as exc:
                track.blockers = self._watcher.stop() or track.blockers
                # A lock timeout means the whole attempt was spent waiting for the lock.
                track.lock_wait_s += (
                    time.monotonic() - attempt_started
                    if isinstance(exc, psycopg.errors.LockNotAvailable)
                    else self._watcher.wait_s
                )
                self._drop_leftover_index(step)
                if not self._should_retry(exc, track):
                    self._emit(track, "failed", exc)
                    raise self._error(track, exc) from exc
                self._emit(track, "retry", exc)
                self._sleep(self._delay_s(track))
                continue
            self._watcher.stop()
            track.lock_wait_s += self._watcher.wait_s
            if rows is _SKIPPED:
                return self._finish(track, "skipped", None)
            return self._finish(track, "ok", rows)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction under the default timeouts, for ec's own bookkeeping (no retries)."""
        with self.conn.transaction():
            self._set_timeouts(self.policy.lock_timeout_ms, self.policy.statement_timeout_ms)
            yield self.conn

    def execute(self, statement: Statement, params: Any = None) -> list[tuple[Any, ...]]:
        """Run one read-only or bookkeeping statement (no DDL) under the default timeouts."""
        with self.transaction() as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def _attempt(
        self,
        step: Step,
        transactional: bool,
        skip_if: Callable[[Connection], bool] | None,
        record: Callable[[Connection], None] | None,
    ) -> Any:
        conn = self.conn
        lock_ms, stmt_ms = self._lock_ms(step), self._statement_ms(step)
        rows: list[tuple[Any, ...]] | None = None
        if transactional:
            with conn.transaction():
                self._set_timeouts(lock_ms, stmt_ms)
                # Asked inside the transaction, so a guard that takes a lock sees settled state.
                if skip_if is not None and skip_if(conn):
                    return _SKIPPED
                for statement in step.statements:
                    cur = _execute(conn, statement, step.multi_statement)
                    rows = cur.fetchall() if cur.description else None
                if record is not None:
                    record(conn)
            return rows
        self._set_timeouts(lock_ms, stmt_ms, local=False)
        try:
            cur = _execute(conn, step.statements[0], step.multi_statement)
            rows = cur.fetchall() if cur.description else None
        finally:
            if not conn.broken:
                conn.execute("RESET lock_timeout")
                conn.execute("RESET statement_timeout")
        if record is not None:
            with conn.transaction():
                record(conn)
        return rows

    def _drop_leftover_index(self, step: Step) -> None:
        """Best effort right after a failure; the next attempt checks again before it builds."""
        if not step.creates_index or self.conn.broken:
            return
        try:
            drop_if_invalid(self.conn, *step.creates_index, lock_timeout_ms=self._lock_ms(step))
        except psycopg.Error:
            return

    def _set_timeouts(self, lock_ms: int, stmt_ms: int, *, local: bool = True) -> None:
        self.conn.execute(
            "SELECT set_config('lock_timeout', %s, %s), set_config('statement_timeout', %s, %s)",
            (f"{lock_ms}ms", local, f"{stmt_ms}ms", local),
        )

    def _lock_ms(self, step: Step) -> int:
        return step.lock_timeout_ms or self.policy.lock_timeout_ms

    def _statement_ms(self, step: Step) -> int:
        if step.statement_timeout_ms is not None:
            return step.statement_timeout_ms
        return self.policy.statement_timeout_ms

    def _should_retry(self, exc: BaseException, track: _Tracker) -> bool:
        retryable = is_retryable(exc) or (
            isinstance(exc, psycopg.OperationalError)
            and self._conn is not None
            and self._conn.broken
        )
        return (
            retryable
            and track.attempts < self.policy.max_attempts
            and track.elapsed_s() * 1000 < self.policy.max_total_ms
        )

    def _delay_s(self, track: _Tracker) -> float:
        remaining_ms = self.policy.max_total_ms - track.elapsed_s() * 1000
        return max(0.0, min(self.policy.delay_ms(track.attempts), remaining_ms)) / 1000

    def _error(self, track: _Tracker, exc: psycopg.Error) -> Exception:
        step = track.step
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        pg = mask_dsn(first_line or type(exc).__name__)
        leftover = ""
        if (
            step.creates_index
            and not self.conn.broken
            and is_invalid(self.conn, *step.creates_index)
        ):
            leftover = (
                f"; the INVALID index {'.'.join(step.creates_index)} could not be dropped: "
                "DROP INDEX CONCURRENTLY it before retrying"
            )
        if is_retryable(exc):
            who = (
                "; blocked by " + "; ".join(b.describe() for b in track.blockers)
                if track.blockers
                else "; the blocking session had already gone when ec looked"
            )
            pids = ", ".join(str(b.pid) for b in track.blockers) or "<pid>"
            return LockRetryExhausted(
                f"step {step.description!r} could not take its lock after {track.attempts} "
                f"attempt(s) in {track.elapsed_s():.1f}s (lock_timeout {self._lock_ms(step)}ms "
                f"each): {pg}{who}{leftover}",
                f"finish or cancel the blocking session (SELECT pg_cancel_backend({pids})) and "
                "re-run; ec resumes where it stopped",
            )
        hint = None
        if isinstance(exc, psycopg.errors.QueryCanceled):
            hint = (
                "the statement hit statement_timeout; raise --statement-timeout if this is expected"
            )
        detail = exc.diag.message_detail if exc.diag else None
        if detail:  # e.g. "Key (email)=(a@x) is duplicated." names the offending row
            pg = f"{pg} ({mask_dsn(detail.strip())})"
        return StepFailed(
            f"step {step.description!r} failed: {pg} [SQLSTATE {exc.sqlstate or '?'}]{leftover}",
            hint,
        )

    def _finish(
        self, track: _Tracker, outcome: str, rows: list[tuple[Any, ...]] | None
    ) -> StepResult:
        self._emit(track, outcome, None)
        return StepResult(
            attempts=track.attempts,
            duration_ms=track.elapsed_s() * 1000,
            lock_wait_ms=track.lock_wait_s * 1000,
            rows=rows,
            skipped=outcome == "skipped",
        )

    def _emit(self, track: _Tracker, outcome: str, exc: psycopg.Error | None) -> None:
        event = StatementEvent(
            step=track.step.description,
            statement=track.text,
            outcome=outcome,
            duration_ms=round(track.elapsed_s() * 1000, 3),
            attempts=track.attempts,
            lock_wait_ms=round(track.lock_wait_s * 1000, 3),
            transactional=track.transactional,
            error=None if exc is None else str(exc).strip(),
            sqlstate=None if exc is None else exc.sqlstate,
            blockers=track.blockers if exc is not None else (),
        )
        self.events.append(event)
        if self.sink is not None:
            self.sink(event)


def _execute(conn: Connection, statement: Statement, multi: bool) -> psycopg.Cursor[Any]:
    """One statement through the extended protocol (``binary=True`` forces it: PostgreSQL
    refuses a second statement in a Parse message); the simple protocol only for raw sql."""
    if multi:
        return conn.execute(statement)
    return conn.execute(statement, binary=True)


@dataclasses.dataclass
class _Tracker:
    """What one ``run()`` has seen so far, across its attempts."""

    step: Step
    text: str
    transactional: bool = True
    attempts: int = 0
    lock_wait_s: float = 0.0
    blockers: tuple[Blocker, ...] = ()
    started: float = dataclasses.field(default_factory=time.monotonic)

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started
