"""Running a stored Plan's phases through the ledger: every step once, resumable after a crash."""

from __future__ import annotations

from collections.abc import Callable

from expandcontract.engine.plan import BackfillJob, Plan
from expandcontract.errors import ECError
from expandcontract.ledger import Ledger, MigrationRecord
from expandcontract.ledger.lock import RunLockLost
from expandcontract.observe import emit
from expandcontract.operations.base import PlannedStep
from expandcontract.runner import Step

# Called for each table that has rows to convert; must return only once every row is done
# (verified) and raise ECError (naming the failing row) otherwise.
BackfillFn = Callable[[BackfillJob, MigrationRecord], None]
StepHook = Callable[[str, PlannedStep], None]


class MigrationError(ECError):
    """The migration cannot proceed in its current state."""


def to_step(planned: PlannedStep) -> Step:
    return Step(
        planned.description,
        tuple(planned.statements),
        transactional=planned.transactional,
        lock_timeout_ms=planned.lock_timeout_ms,
        statement_timeout_ms=planned.statement_timeout_ms,
        creates_index=planned.creates_index,
        multi_statement=planned.multi_statement,
    )


# Where a failed phase leaves the database, and what to run next: every failure says both.
_AFTER_FAILURE = {
    "expand": (
        "the old version is unaffected; the new version's schema is not complete yet",
        "fix the cause and run `ec apply` with the same file (it resumes at this step), "
        "or `ec rollback` to undo what expand did",
    ),
    "backfill": (
        "expand is done and both versions are live; the backfill's progress is kept",
        "fix the cause and run `ec apply` with the same file (it resumes the backfill), "
        "or `ec rollback` to undo the migration",
    ),
    "contract-start": (
        "the new version is current; nothing was contracted and the old version keeps working",
        "fix the cause and run `ec complete` again, or `ec switch --back` / `ec rollback`",
    ),
    "contract": (
        "the new version is current and keeps working",
        "fix the cause and run `ec complete` again (it resumes at this step)",
    ),
    "rollback": (
        "the old version is current and keeps working",
        "fix the cause and run `ec rollback` again (it resumes at this step)",
    ),
}


def explained(exc: ECError, phase: str, where: str) -> ECError:
    """``exc`` (same class) with what happened, the database's state and the next command."""
    state, action = _AFTER_FAILURE[phase]
    out = type(exc).__new__(type(exc))
    out.__dict__.update(exc.__dict__)
    out.message = f"{phase.split('-', maxsplit=1)[0]} stopped at {where}: {exc.message}"
    out.hint = f"{exc.hint.rstrip('.')}. " if exc.hint else ""
    out.hint += f"State: {state}. Next: {action}"
    Exception.__init__(out, out.message)
    return out


def run_steps(
    ledger: Ledger,
    record: MigrationRecord,
    phase: str,
    steps: list[PlannedStep],
    *,
    before_step: StepHook | None = None,
    finish: bool = True,
    first: int = 1,
) -> None:
    """Run ``steps`` once each; ``finish=False`` leaves the phase running (more to come).
    ``first``: the number of the first of them among the phase's steps (progress events)."""
    ledger.set_phase(record.id, phase, "running")
    total = len(steps) + first - 1
    if first == 1:  # a phase continued from earlier steps was announced with them
        emit("phase", phase=phase, status="started", migration=record.name, steps=total)
    for number, planned in enumerate(steps, start=first):
        where = {"phase": phase, "number": number, "of": total, "migration": record.name}
        about = {**where, "description": planned.description, "lock": planned.lock}
        try:
            if before_step is not None:
                before_step(phase, planned)
            emit("step", status="started", **about)
            result = ledger.run_step(record.id, phase, planned.key, to_step(planned))
        except RunLockLost:
            raise  # another ec run may own the database now: write nothing more
        except ECError as exc:
            ledger.set_phase(record.id, phase, "failed", error=exc.message)
            emit("step", status="failed", error=exc.message, **about)
            emit("phase", phase=phase, status="failed", migration=record.name, error=exc.message)
            where_text = f"step {number} of {total} ({planned.description})"
            raise explained(exc, phase, where_text) from exc
        emit(
            "step",
            status="skipped" if result.skipped else "done",
            duration_ms=round(result.duration_ms, 1),
            attempts=result.attempts,
            lock_wait_ms=round(result.lock_wait_ms, 1),
            **about,
        )
    if finish:
        ledger.set_phase(record.id, phase, "done")
        emit("phase", phase=phase, status="done", migration=record.name)


def run_backfills(
    ledger: Ledger, record: MigrationRecord, plan: Plan, backfill: BackfillFn
) -> None:
    ledger.set_phase(record.id, "backfill", "running")
    tables = [job.table for job in plan.backfills]
    emit("phase", phase="backfill", status="started", migration=record.name, tables=tables)
    for job in plan.backfills:
        try:
            backfill(job, record)
        except RunLockLost:
            raise
        except ECError as exc:
            ledger.set_phase(record.id, "backfill", "failed", error=exc.message)
            emit(
                "phase", phase="backfill", status="failed", migration=record.name,
                error=exc.message,
            )  # fmt: skip
            raise explained(exc, "backfill", f"table {job.schema}.{job.table}") from exc
    ledger.set_phase(record.id, "backfill", "done")
    emit("phase", phase="backfill", status="done", migration=record.name)
