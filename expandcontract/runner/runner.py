"""SafeRunner: every statement with lock_timeout + statement_timeout, capped jittered retries,
blocker diagnostics, INVALID-index cleanup and one structured event per statement."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psycopg

from expandcontract.dsn import display_text, to_psycopg, user_of
from expandcontract.errors import LockRetryExhausted, StepFailed, privilege_error
from expandcontract.events import Blocker, EventSink, StatementEvent, log, log_event
from expandcontract.runner.blockers import LockWatcher
from expandcontract.runner.invalid_index import drop_if_invalid, is_invalid
from expandcontract.runner.policy import RetryPolicy, is_retryable
from expandcontract.runner.reconnect import (
    ConnectionFailed,
    connect,
    is_alive,
    is_lost,
    lost_for_good,
)
from expandcontract.runner.steps import (
    NON_TRANSACTIONAL,
    Connection,
    Statement,
    Step,
    StepResult,
)

T = TypeVar("T")

__all__ = [
    "NON_TRANSACTIONAL",
    "Connection",
    "SafeRunner",
    "Statement",
    "Step",
    "StepResult",
    "connect",
]

_SKIPPED = object()


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
        guard: Callable[[], None] | None = None,
        fence: Callable[[Connection], None] | None = None,
    ) -> None:
        self.conninfo = to_psycopg(conninfo)
        self.policy = policy or RetryPolicy()
        # Called before every step attempt and before any retry after a lost connection; it
        # raises to stop the run (ExclusiveRun.check: the run lock is gone with its session).
        self.guard = guard
        # Called first inside every transaction ec opens: it raises to abort it (ExclusiveRun.
        # fence: another run has stamped the ledger), and holds off such a stamp until commit.
        self.fence = fence
        self.sink = sink
        self.application_name = application_name
        self._sleep = sleep
        self._conn: Connection | None = None
        self._watcher = LockWatcher(self.conninfo)
        self.events: list[StatementEvent] = []

    # -- connection -------------------------------------------------------------------------
    @property
    def conn(self) -> Connection:
        """The runner's session; re-opened when the server ended it (terminated, restarted),
        waiting up to the retry budget for a server that is coming back."""
        if not is_alive(self._conn):
            if self._conn is not None:
                self._conn.close()
            self._conn = connect(
                self.conninfo, application_name=self.application_name,
                retry_s=self._budget_s(), sleep=self._sleep,
            )  # fmt: skip
        assert self._conn is not None
        return self._conn

    def _budget_s(self) -> float:
        return self.policy.max_total_ms / 1000

    def retrying(self, fn: Callable[[Connection], T]) -> T:
        """``fn(conn)``, called again on a new session if the connection is lost, for up to
        the retry budget. ``fn`` must be safe to repeat (a read, an idempotent write, or a
        write that checks whether an earlier attempt already committed)."""
        lost_since: float | None = None
        attempt = 0
        while True:
            try:
                return fn(self.conn)
            except ConnectionFailed as exc:
                if lost_since is None or not exc.transient:
                    raise
                raise lost_for_good(self.conninfo, self._budget_s(), exc.reason) from None
            except psycopg.OperationalError as exc:
                if not is_lost(exc, self._conn):
                    raise
                attempt += 1
                now = time.monotonic()
                lost_since = now if lost_since is None else lost_since
                if now - lost_since >= self._budget_s():
                    raise lost_for_good(self.conninfo, self._budget_s(), _first_line(exc)) from None
                log.warning("lost the database connection (%s); reconnecting", _first_line(exc))
                if self._conn is not None:
                    self._conn.close()
                self._sleep(self.policy.delay_ms(attempt) / 1000)
                if self.guard is not None:
                    self.guard()

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
            attempt_started = time.monotonic()
            if self.guard is not None:
                self.guard()
            try:
                if not transactional and skip_if is not None and skip_if(self.conn):
                    track.attempts -= 1
                    return self._finish(track, "skipped", None)
                self._watcher.start(self.conn.info.backend_pid)
                if step.creates_index:
                    drop_if_invalid(
                        self.conn, *step.creates_index, lock_timeout_ms=self._lock_ms(step)
                    )
                rows = self._attempt(step, transactional, skip_if, record)
            except ConnectionFailed:
                self._watcher.stop()  # the server did not come back within the budget
                raise
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
        """A transaction under the default timeouts, for ec's own bookkeeping (no lock retries).

        Opening it survives a lost session (reconnect, within the retry budget); a session
        lost inside the block raises, since the block cannot be replayed: use
        ``in_transaction(fn)`` for work that may be repeated.
        """

        def begin(conn: Connection) -> tuple[Connection, contextlib.ExitStack]:
            with contextlib.ExitStack() as stack:
                stack.enter_context(conn.transaction())
                self._set_timeouts(self.policy.lock_timeout_ms, self.policy.statement_timeout_ms)
                self._fence(conn)
                return conn, stack.pop_all()

        conn, opened = self.retrying(begin)
        with opened:
            yield conn

    def in_transaction(
        self,
        fn: Callable[[Connection], T],
        *,
        recover: Callable[[Connection], T] | None = None,
    ) -> T:
        """``fn(conn)`` in one transaction under the default timeouts, run again in a new one
        if the session is lost. A COMMIT lost with the connection may still have happened:
        ``fn`` must be idempotent, or pass ``recover``: then each attempt notes its
        transaction id, and if the lost attempt did commit (txid_status), ``recover(conn)``
        reads its result instead of repeating it."""
        previous: list[int] = []

        def attempt(conn: Connection) -> T:
            if recover is not None and previous and _committed(conn, previous[-1]):
                return recover(conn)
            with conn.transaction():
                self._set_timeouts(self.policy.lock_timeout_ms, self.policy.statement_timeout_ms)
                self._fence(conn)
                if recover is not None:
                    row = conn.execute("SELECT txid_current()").fetchone()
                    previous.append(int(row[0]) if row else 0)
                return fn(conn)

        return self.retrying(attempt)

    def execute(self, statement: Statement, params: Any = None) -> list[tuple[Any, ...]]:
        """Run one read-only or idempotent bookkeeping statement (no DDL) under the default
        timeouts; repeated on a new session if the connection is lost."""

        def run(conn: Connection) -> list[tuple[Any, ...]]:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []

        return self.in_transaction(run)

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
                self._fence(conn)
                # Asked inside the transaction, so a guard that takes a lock sees settled state.
                if skip_if is not None and skip_if(conn):
                    return _SKIPPED
                for statement in step.statements:
                    cur = _execute(conn, statement, step.multi_statement)
                    rows = cur.fetchall() if cur.description else None
                if record is not None:
                    record(conn)
            return rows
        if self.fence is not None:  # an autocommit statement can only be fenced before it runs
            with conn.transaction():
                self._fence(conn)
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
        if not step.creates_index or not is_alive(self._conn):
            return
        try:
            drop_if_invalid(self.conn, *step.creates_index, lock_timeout_ms=self._lock_ms(step))
        except psycopg.Error:
            return

    def _fence(self, conn: Connection) -> None:
        if self.fence is not None:
            self.fence(conn)

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
        retryable = is_retryable(exc) or is_lost(exc, self._conn)
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
        pg = display_text(first_line or type(exc).__name__)
        leftover = ""
        if (
            step.creates_index
            and self._conn is not None
            and is_alive(self._conn)
            and is_invalid(self._conn, *step.creates_index)
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
        denied = privilege_error(
            exc, role=user_of(self.conninfo), doing=f"step {step.description!r} failed"
        )
        if denied is not None:
            return denied
        hint = None
        if isinstance(exc, psycopg.errors.QueryCanceled):
            hint = (
                "the statement hit statement_timeout; raise --statement-timeout if this is expected"
            )
        detail = exc.diag.message_detail if exc.diag else None
        if detail:  # e.g. "Key (email)=(a@x) is duplicated." names the offending row
            pg = f"{pg} ({display_text(detail.strip())})"
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


def _committed(conn: Connection, txid: int) -> bool:
    """Whether a transaction whose COMMIT was lost with its connection committed; while
    the server still finishes it ('in progress'), wait for the answer."""
    while True:
        row = conn.execute("SELECT txid_status(%s)", (txid,)).fetchone()
        if not row or row[0] != "in progress":
            return bool(row and row[0] == "committed")
        time.sleep(0.05)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return display_text(text.splitlines()[0] if text else type(exc).__name__)


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
