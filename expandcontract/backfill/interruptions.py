"""A backfill that stops without having failed: the database stayed unreachable for longer than
``reconnect_max_s``, or ec's run lock was lost (another ec run may be working now). Both are
recorded as ``interrupted`` and resume from the committed batches when run again."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from expandcontract.backfill.errors import BackfillFailed
from expandcontract.ledger.liveness import INTERRUPTED, backfill_run_command
from expandcontract.ledger.lock import LOST_HINT, LOST_MESSAGE, RunLockLost, run_is_current
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


_POLL_S = 0.2


def check_run_lock(
    conn: Connection,
    run_lock: tuple[int, int, int] | None,
    ledger_schema: str,
    *,
    before: str = "the next batch",
    wait_s: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return while ec's run (``run_lock`` = classid, objid, run generation) still holds
    its lock; raise BackfillRunLockLost once another run stamped the ledger. While nobody
    holds the lock (the run is taking it again after its session ended, e.g. a server
    restart) wait, up to ``wait_s``."""
    if run_lock is None:
        return
    waited = 0.0
    while True:
        current = run_is_current(conn, ledger_schema, *run_lock)
        if current:
            return
        if current is False or waited >= wait_s:
            raise BackfillRunLockLost(f"{LOST_MESSAGE}; stopped before {before}", LOST_HINT)
        sleep(_POLL_S)
        waited += _POLL_S
