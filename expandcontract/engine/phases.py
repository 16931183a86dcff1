"""Running a stored Plan's phases through the ledger: every step once, resumable after a crash."""

from __future__ import annotations

from collections.abc import Callable

from expandcontract.engine.plan import BackfillJob, Plan
from expandcontract.errors import ECError
from expandcontract.ledger import Ledger, MigrationRecord
from expandcontract.operations.base import PlannedStep
from expandcontract.runner import Step

# Called for each table that has rows to convert; must return only once every row is done
# (verified) and raise ECError (naming the failing row) otherwise.
BackfillFn = Callable[[BackfillJob, MigrationRecord], None]
StepHook = Callable[[str, PlannedStep], None]


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


def run_steps(
    ledger: Ledger,
    record: MigrationRecord,
    phase: str,
    steps: list[PlannedStep],
    *,
    before_step: StepHook | None = None,
) -> None:
    ledger.set_phase(record.id, phase, "running")
    try:
        for planned in steps:
            if before_step is not None:
                before_step(phase, planned)
            ledger.run_step(record.id, phase, planned.key, to_step(planned))
    except ECError as exc:
        ledger.set_phase(record.id, phase, "failed", error=exc.message)
        raise
    ledger.set_phase(record.id, phase, "done")


def run_backfills(
    ledger: Ledger, record: MigrationRecord, plan: Plan, backfill: BackfillFn
) -> None:
    ledger.set_phase(record.id, "backfill", "running")
    try:
        for job in plan.backfills:
            backfill(job, record)
    except ECError as exc:
        ledger.set_phase(record.id, "backfill", "failed", error=exc.message)
        raise
    ledger.set_phase(record.id, "backfill", "done")
