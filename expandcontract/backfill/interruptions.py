"""A backfill that stops without having failed: the database stayed unreachable for longer than
``reconnect_max_s``, or ec's run lock was lost (another ec run may be working now). Both are
recorded as ``interrupted`` and resume from the committed batches when run again."""

from __future__ import annotations

from typing import Any

from expandcontract.backfill.errors import BackfillFailed
from expandcontract.ledger.liveness import INTERRUPTED, backfill_run_command
from expandcontract.ledger.lock import LOST_HINT, LOST_MESSAGE, RunLockLost, lock_still_held
from expandcontract.runner.reconnect import ConnectionFailed
from expandcontract.runner.runner import Connection


class BackfillInterrupted(BackfillFailed):
    """Stopped by something outside the backfill; nothing is wrong with it. Resumable."""

    status = INTERRUPTED


class BackfillRunLockLost(BackfillInterrupted, RunLockLost):
    """The session holding ec's run lock ended: another ec run may hold it now."""


def resume_hint(name: str, spec: dict[str, Any] | None) -> str:
    command = backfill_run_command(name, spec) if spec else f"ec backfill run ... --name {name}"
    return (
        f"the committed batches are kept: re-run `{command}` (for a migration's backfill, "
        "`ec apply`) to resume"
    )


def connection_interrupted(
    exc: ConnectionFailed, name: str, spec: dict[str, Any] | None
) -> BackfillFailed:
    """The backfill error for a connection that did not come back (or could not be opened)."""
    if not exc.transient:  # e.g. the password changed meanwhile: waiting will not help
        return BackfillFailed(exc.message, exc.hint)
    return BackfillInterrupted(
        f"backfill {name} stopped: {exc.message}",
        f"check that the server is running; {resume_hint(name, spec)}",
    )


def check_run_lock(
    conn: Connection, run_lock: tuple[int, int, int] | None, *, before: str = "the next batch"
) -> None:
    """Raise BackfillRunLockLost unless the run lock's holder still holds it."""
    if run_lock is not None and not lock_still_held(conn, *run_lock):
        raise BackfillRunLockLost(f"{LOST_MESSAGE}; stopped before {before}", LOST_HINT)
