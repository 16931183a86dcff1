"""The two ways a migration ends: contract (the old version retires) and undo (the new one
is dropped). Both run through the ledger step by step and resume after a crash."""

from __future__ import annotations

import dataclasses
from typing import Any

from expandcontract.engine import versions
from expandcontract.engine.backfill import settle_pending
from expandcontract.engine.phases import (
    MigrationError,
    StepHook,
    explained,
    run_backfills,
    run_steps,
    to_step,
)
from expandcontract.engine.plan import Plan
from expandcontract.engine.triggers import convert_pending
from expandcontract.errors import ECError
from expandcontract.ledger import Ledger, MigrationRecord
from expandcontract.observe import emit
from expandcontract.operations.base import PlannedStep
from expandcontract.runner import SafeRunner


def contract(
    ledger: Ledger, record: MigrationRecord, plan: Plan, *, before_step: StepHook | None
) -> None:
    phases = ledger.phases(record.id)
    if not plan.backfills and done(phases, "expand") and "backfill" not in phases:
        run_backfills(ledger, record, plan, no_backfill)  # nothing to convert: trivially done
        phases = ledger.phases(record.id)
    if not done(phases, "backfill"):
        raise MigrationError(
            f"migration {record.name!r} cannot contract: its backfill is not verified complete",
            "run `ec apply FILE --phase backfill` first",
        )
    # Contracting retires the old version: from here on the new version is current.
    versions.switch(ledger.runner, ledger, record, back=False)
    steps = plan.phases["contract"]
    first = [s for s in steps if s.key.startswith(("pending-index:", "strict:"))]
    rest = [s for s in steps if s not in first]
    # Rows that became pending since the backfill (an old-version write `up` could not
    # convert) are converted now or listed, while the trigger still lets such writes
    # through; then each table's trigger turns strict. Contract has not started until
    # then: if this fails, nothing changed and rollback is still possible.
    _settle(ledger, plan)
    if first:  # the phase starts with them (run_steps announces the phase otherwise)
        emit("phase", phase="contract", status="started", migration=record.name, steps=len(steps))
    for number, planned in enumerate(first, start=1):
        _turn_strict(ledger, record, plan, planned, before_step, (number, len(steps)))
    run_steps(ledger, record, "contract", rest, before_step=before_step, first=len(first) + 1)
    ledger.finish_migration(record.id)
    emit("migration", name=record.name, status="done")


def _settle(ledger: Ledger, plan: Plan, table: str | None = None) -> None:
    for job in plan.backfills:
        if table is None or job.table == table:
            try:
                settle_pending(ledger.runner, job)
            except ECError as exc:
                where = f"table {job.schema}.{job.table}"
                raise explained(exc, "contract-start", where) from exc


def _turn_strict(
    ledger: Ledger,
    record: MigrationRecord,
    plan: Plan,
    planned: PlannedStep,
    before_step: StepHook | None,
    position: tuple[int, int],
) -> None:
    """A strict step, with the rows still pending converted in its own transaction: one
    that cannot convert undoes it all (the trigger stays tolerant) and is listed."""
    if before_step is not None:
        before_step("contract", planned)
    step = to_step(planned)
    table = planned.key.split(":", 1)[1]
    if planned.key.startswith("strict:"):
        converting = convert_pending(plan.base_schema, table)
        step = dataclasses.replace(step, statements=(*step.statements, *converting))
    about = {
        "phase": "contract", "number": position[0], "of": position[1],
        "migration": record.name, "description": planned.description, "lock": planned.lock,
    }  # fmt: skip
    emit("step", status="started", **about)
    try:
        result = ledger.run_step(record.id, "contract", planned.key, step)
    except ECError as exc:
        emit("step", status="failed", error=exc.message, **about)
        _settle(ledger, plan, table)  # lists the rows `up` cannot convert, if any
        raise explained(exc, "contract-start", f"step {planned.description}") from exc
    emit(
        "step", status="skipped" if result.skipped else "done",
        duration_ms=round(result.duration_ms, 1), attempts=result.attempts,
        lock_wait_ms=round(result.lock_wait_ms, 1), **about,
    )  # fmt: skip


def undo(
    runner: SafeRunner,
    ledger: Ledger,
    record: MigrationRecord,
    plan: Plan,
    *,
    before_step: StepHook | None,
) -> None:
    versions.switch(runner, ledger, record, back=True)
    run_steps(
        ledger,
        record,
        "rollback",
        _undoable(plan, ledger.done_steps(record.id)),
        before_step=before_step,
    )
    ledger.finish_migration(record.id)
    emit("migration", name=record.name, status="rolled_back")


def _undoable(plan: Plan, done_steps: set[tuple[str, str]]) -> list[Any]:
    """Rollback steps of operations whose expand never ran are skipped: a raw sql `down` must
    not undo an `up` that did not happen (the shared steps all use IF EXISTS)."""
    started = {key.split(":", 2)[0] for phase, key in done_steps if phase == "expand"}
    return [
        step
        for step in plan.phases["rollback"]
        if not step.key[:1].isdigit() or step.key.split(":", 2)[0] in started
    ]


def done(phases: dict[str, dict[str, Any]], phase: str) -> bool:
    return phases.get(phase, {}).get("status") == "done"


def no_backfill(job: Any, record: MigrationRecord) -> None:
    return None
