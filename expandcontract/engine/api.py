"""The engine's library API: plan, apply (expand → backfill → switch → contract), switch,
complete, rollback, status. The CLI is a thin layer over these functions."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

from expandcontract.config import Settings
from expandcontract.engine import finishing, health_gate, report, versions
from expandcontract.engine.backfill import (
    BackfillHealth,
    current_run,
    health_gated,
)
from expandcontract.engine.finishing import done as _done
from expandcontract.engine.finishing import no_backfill as _no_backfill
from expandcontract.engine.migration import Migration
from expandcontract.engine.phases import (
    BackfillFn,
    MigrationError,
    StepHook,
    run_backfills,
    run_steps,
)
from expandcontract.engine.plan import Plan, build_plan_politely
from expandcontract.engine.selector import as_version
from expandcontract.errors import ConfigError, ECError, LedgerBusy
from expandcontract.events import EventSink, StatementEvent, log_event
from expandcontract.health import HealthGate
from expandcontract.ledger import ExclusiveRun, Ledger, MigrationRecord
from expandcontract.ledger.lock import RunLockLost
from expandcontract.observe import Observer, deliver, emit, observing
from expandcontract.runner import RetryPolicy, SafeRunner

__all__ = ["ON_FAILURE", "PHASE_ORDER", "Engine", "MigrationError"]

PHASE_ORDER = ("expand", "backfill", "switch", "contract")
ON_FAILURE = ("stop", "rollback")


class AlreadyApplied(Exception):
    """Internal: the migration was completed before; applying it again changes nothing."""

    def __init__(self, record: MigrationRecord) -> None:
        super().__init__(record.name)
        self.record = record


@dataclasses.dataclass
class Engine:
    """One database, one base schema. ``backfill`` converts rows of a table (see phases.py)."""

    url: str = dataclasses.field(repr=False)
    settings: Settings = dataclasses.field(default_factory=Settings)
    backfill: BackfillFn | None = None
    sink: EventSink | None = log_event
    before_step: StepHook | None = None  # tests use it to crash at step boundaries
    # Progress events of every phase (see expandcontract.observe): views, metrics, health.
    observer: Observer | None = None

    @property
    def schema(self) -> str:
        return self.settings.schema

    def _runner(self) -> SafeRunner:
        # ec's own session is never the new version (raw sql operations write as the old one).
        return SafeRunner(
            as_version(self.url, self.schema),
            policy=RetryPolicy.from_settings(self.settings),
            sink=self._statement_sink(),
        )

    def _statement_sink(self) -> EventSink | None:
        """The configured sink, plus retries and failures (lock waits, blockers) as
        ``statement`` progress events."""
        observer, sink = self.observer, self.sink
        if observer is None:
            return sink

        def both(event: StatementEvent) -> None:
            if sink is not None:
                sink(event)
            if event.outcome in ("retry", "failed"):
                deliver(observer, {"ts": round(time.time(), 3), **event.as_dict()})

        return both

    @contextlib.contextmanager
    def _exclusive(self, command: str) -> Iterator[SafeRunner]:
        """The runner of a command that changes the database, holding ec's run lock. Before
        every step (and every batch of the backfill) ec checks that it still holds it: a lost
        lock stops the run at once, since another run may own the database now."""
        with (
            observing(self.observer),
            self._runner() as runner,
            ExclusiveRun(
                runner.conninfo,
                self.settings.ledger_schema,
                command,
                retry_s=self.settings.retry_max_ms / 1000,
            ) as run,
        ):
            runner.guard, runner.fence = run.check, run.fence
            token = current_run.set(run)
            try:
                yield runner
            finally:
                current_run.reset(token)

    # -- planning ----------------------------------------------------------------------------
    def _build_plan(self, runner: SafeRunner, migration: Migration, old_schema: str) -> Plan:
        policy = RetryPolicy.from_settings(self.settings)
        return build_plan_politely(runner.conn, migration, self.schema, old_schema, policy)

    def plan(self, migration: Migration) -> Plan:
        """Validate and compile without changing anything. For the active migration itself,
        its stored plan (what runs on resume); another migration waits for it to finish."""
        with self._runner() as runner:
            ledger = Ledger(runner, self.settings.ledger_schema)
            installed = ledger.version() is not None
            active = ledger.active_migration(self.schema) if installed else None
            if active is not None and active.name == migration.name:
                if active.checksum != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.name!r} is active (phase {active.phase}) and this "
                        "file differs from what was applied",
                        "`ec plan` shows the stored plan for the file as applied: restore it "
                        "(ec status shows the active migration)",
                    )
                stored = self._stored_plan(runner, ledger, active)
                stored.warnings.insert(
                    0,
                    f"migration {active.name!r} is already active (phase {active.phase}): this "
                    "is its stored plan, which `ec apply` resumes and `ec complete` finishes",
                )
                return stored
            if active is not None:
                raise MigrationError(
                    f"migration {active.name!r} is still active on schema {self.schema!r}: "
                    f"{migration.name!r} would be planned against its intermediate schema",
                    "finish the active migration first (`ec complete` once the new version is "
                    "deployed), then plan this one",
                )
            earlier = ledger.migration_by_name(self.schema, migration.name) if installed else None
            if earlier is not None and _done(ledger.phases(earlier.id), "contract"):
                raise MigrationError(
                    f"migration {migration.name!r} was completed already; applying it again "
                    "changes nothing",
                    "a further change needs a new migration (a new name)",
                )
            old = versions.current(runner.conn, ledger, self.schema) if installed else None
            return self._build_plan(runner, migration, old or self.schema)

    # -- apply -------------------------------------------------------------------------------
    def apply(
        self,
        migration: Migration,
        *,
        through: str = "backfill",
        on_failure: str = "stop",
        health: HealthGate | None = None,
    ) -> dict[str, Any]:
        """Run the phases up to ``through``. ``on_failure="rollback"``: if expand or the
        backfill fails, undo the migration at once (same run, same lock) and say so.
        ``health``: the backfill pauses while its probe fails; with rollback, the gate's
        consecutive failures stop the backfill, which rolls the migration back."""
        if through not in PHASE_ORDER:
            raise MigrationError(f"unknown phase {through!r}", f"one of {', '.join(PHASE_ORDER)}")
        if on_failure not in ON_FAILURE:
            raise MigrationError(
                f"unknown --on-failure {on_failure!r}", f"one of {', '.join(ON_FAILURE)}"
            )
        if health is not None and through in ("switch", "contract"):
            raise ConfigError(
                f"a health probe does not watch the switch of `ec apply --phase {through}`: "
                "under `ec apply` it gates the backfill only",
                "run `ec apply` (through the backfill), then `ec switch --health-… --watch`",
            )
        gated = BackfillHealth(health, give_up=on_failure == "rollback") if health else None
        with self._exclusive("ec apply") as runner, health_gated(gated):
            ledger = Ledger(runner, self.settings.ledger_schema)
            try:
                record, plan = self._start_or_resume(runner, ledger, migration)
            except AlreadyApplied as applied:
                if applied.record.checksum != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.name!r} was completed with different contents",
                        "migrations are immutable once completed: write a new migration",
                    ) from None
                return {**self._summary(ledger, applied.record), "already_completed": True}
            wanted = PHASE_ORDER[: PHASE_ORDER.index(through) + 1]
            fresh = not ledger.phases(record.id)
            emit("migration", name=record.name, status="started" if fresh else "resumed")
            try:
                if not _done(ledger.phases(record.id), "expand"):
                    run_steps(
                        ledger,
                        record,
                        "expand",
                        plan.phases["expand"],
                        before_step=self.before_step,
                    )
                if "backfill" in wanted and not _done(ledger.phases(record.id), "backfill"):
                    self._backfill(ledger, record, plan)
            except ECError as exc:
                # A refused setting (a plain ConfigError, e.g. a rolling-back health gate with
                # several backfill workers) is no failure of the migration: no undo.
                refused = type(exc) is ConfigError
                if on_failure != "rollback" or refused or isinstance(exc, LedgerBusy | RunLockLost):
                    raise
                if ledger.phases(record.id).get("switch", {}).get("status") == "done":
                    # The new version is current: apps may depend on it; a person decides.
                    raise MigrationError(
                        f"{exc.message} - not rolled back automatically: the new version is "
                        "current (ec switch)",
                        "fix the cause and run `ec apply` again; to undo the migration, "
                        "`ec switch --back` once no app uses the new version, then `ec rollback`",
                    ) from exc
                self._undo(runner, ledger, record, plan)
                raise MigrationError(
                    f"{exc.message} - rolled back automatically (--on-failure rollback)",
                    "the database is as before the migration and the old version kept working "
                    "throughout: fix the cause, then apply again",
                ) from exc
            if "switch" in wanted:
                versions.switch(runner, ledger, record, back=False)
            if "contract" in wanted:
                self._contract(ledger, record, plan)
            return self._summary(ledger, record)

    def _start_or_resume(
        self, runner: SafeRunner, ledger: Ledger, migration: Migration
    ) -> tuple[MigrationRecord, Plan]:
        """The active migration's record and stored plan, or a new record for a migration
        that validated: the ledger is created (or upgraded) only for a migration that runs."""
        if ledger.version() is None:
            plan = self._build_plan(runner, migration, self.schema)
            ledger.ensure()
            run = current_run.get()
            if run is not None:
                run.stamp()  # the ledger exists now: stamp this run's generation
            return self._record(runner, ledger, migration, plan, None), plan
        ledger.ensure()
        active = ledger.active_migration(self.schema)
        if active is not None and active.name != migration.name:
            raise MigrationError(
                f"migration {active.name!r} is still active on schema {self.schema!r}",
                "finish it with `ec complete` or undo it with `ec rollback` first",
            )
        if active is not None:
            if active.checksum != migration.checksum:
                raise MigrationError(
                    f"migration {migration.name!r} changed since it was started",
                    "restore the file as applied, or `ec rollback` and apply the new version",
                )
            return active, self._stored_plan(runner, ledger, active)
        earlier = ledger.migration_by_name(self.schema, migration.name)
        if earlier is not None and _done(ledger.phases(earlier.id), "contract"):
            raise AlreadyApplied(earlier)
        old = versions.current(runner.conn, ledger, self.schema)
        plan = self._build_plan(runner, migration, old)
        return self._record(runner, ledger, migration, plan, earlier), plan

    def _record(
        self,
        runner: SafeRunner,
        ledger: Ledger,
        migration: Migration,
        plan: Plan,
        earlier: MigrationRecord | None,
    ) -> MigrationRecord:
        spec = {"migration": migration.to_spec(), "plan": plan.to_json(runner.conn)}
        if earlier is not None:  # rolled back earlier: start afresh under the same name
            record = ledger.restart_migration(
                earlier.id,
                checksum=migration.checksum,
                spec=spec,
                version_schema=plan.version_schema,
                old_schema=plan.old_schema,
            )
            health_gate.forget(ledger, record.id)  # the last run's verdict is not this one's
            return record
        return ledger.start_migration(
            migration.name,
            base_schema=self.schema,
            checksum=migration.checksum,
            spec=spec,
            version_schema=plan.version_schema,
            old_schema=plan.old_schema,
        )

    def _stored_plan(self, runner: SafeRunner, ledger: Ledger, record: MigrationRecord) -> Plan:
        return report.stored_plan(runner, ledger, record)

    def _backfill(self, ledger: Ledger, record: MigrationRecord, plan: Plan) -> None:
        if plan.backfills and self.backfill is None:
            raise MigrationError("this engine has no backfill runner configured")
        run_backfills(ledger, record, plan, self.backfill or _no_backfill)

    def _contract(self, ledger: Ledger, record: MigrationRecord, plan: Plan) -> None:
        finishing.contract(ledger, record, plan, before_step=self.before_step)

    # -- the other commands --------------------------------------------------------------------
    def _existing_ledger(self, runner: SafeRunner) -> Ledger:
        """The ledger, upgraded if needed; never created by a command that needs a migration."""
        ledger = Ledger(runner, self.settings.ledger_schema)
        if ledger.version() is None:
            raise MigrationError(
                f"no active migration on schema {self.schema!r} (this database has no ec "
                f"ledger in schema {self.settings.ledger_schema!r})",
                "start one with `ec apply FILE`; check --database-url and --ledger-schema",
            )
        ledger.ensure()
        return ledger

    def active(self, ledger: Ledger) -> tuple[MigrationRecord, Plan]:
        record = ledger.active_migration(self.schema)
        if record is None:
            raise MigrationError(
                f"no active migration on schema {self.schema!r}", "start one with `ec apply FILE`"
            )
        return record, self._stored_plan(ledger.runner, ledger, record)

    def switch(
        self,
        *,
        back: bool = False,
        search_path: str | None = None,
        health: HealthGate | None = None,
        watch_s: float = 300.0,
    ) -> dict[str, Any]:
        """Make the new (or, ``back``, the old) version current. With ``health``: probe first
        (unhealthy: no switch), switch, probe for ``watch_s`` under the run lock and switch
        back on the gate's consecutive failures (raises SwitchedBack). See health_gate.py."""
        if health is not None and back:
            raise ConfigError("a health watch guards a switch to the new version, not --back")
        command = "ec switch --watch" if health is not None else "ec switch"
        with self._exclusive(command) as runner:
            ledger = self._existing_ledger(runner)
            if health is None:
                record = self._switch_to(runner, ledger, back=back, search_path=search_path)
                return self._summary(ledger, record)
            # Checked before the first probe; switched only once the probe passes.
            record = self._switch_to(
                runner, ledger, back=False, search_path=None, checked_only=True
            )
            verdict = health_gate.switch_watched(
                runner,
                ledger,
                record,
                health,
                watch_s,
                switch=lambda: self._switch_to(runner, ledger, back=False, search_path=search_path),
                switch_back=lambda: self._switch_to(runner, ledger, back=True, search_path=None),
            )
            return {**self._summary(ledger, record), "health": verdict}

    def _switch_to(
        self,
        runner: SafeRunner,
        ledger: Ledger,
        *,
        back: bool,
        search_path: str | None,
        checked_only: bool = False,
    ) -> MigrationRecord:
        """``ec switch [--back]`` itself: the checks, then the switch (unless checked_only)."""
        record, _ = self.active(ledger)
        phases = ledger.phases(record.id)
        if not _done(phases, "expand"):
            raise MigrationError(
                f"migration {record.name!r} has not finished expand",
                "run `ec apply` with its file to finish expand, or `ec rollback`",
            )
        if back and "contract" in phases:
            raise MigrationError(
                f"migration {record.name!r} has started contracting: the old version's "
                "columns may be gone, so it cannot become current again",
                "finish it with `ec complete`",
            )
        if not checked_only:
            versions.switch(runner, ledger, record, back=back, search_path=search_path)
        return record

    def complete(self) -> dict[str, Any]:
        with self._exclusive("ec complete") as runner:
            ledger = self._existing_ledger(runner)
            record, plan = self.active(ledger)
            self._contract(ledger, record, plan)
            return self._summary(ledger, record)

    def rollback(self) -> dict[str, Any]:
        with self._exclusive("ec rollback") as runner:
            ledger = self._existing_ledger(runner)
            record, plan = self.active(ledger)
            phases = ledger.phases(record.id)
            if phases.get("contract", {}).get("status") in ("running", "done", "failed"):
                raise MigrationError(
                    f"migration {record.name!r} has started contracting and cannot be rolled back",
                    "finish it with `ec complete`",
                )
            self._undo(runner, ledger, record, plan)
            return self._summary(ledger, record)

    def _undo(
        self, runner: SafeRunner, ledger: Ledger, record: MigrationRecord, plan: Plan
    ) -> None:
        finishing.undo(runner, ledger, record, plan, before_step=self.before_step)

    def status(self) -> dict[str, Any]:
        with self._runner() as runner:
            ledger = Ledger(runner, self.settings.ledger_schema)
            data = report.status(runner, ledger, self.schema)
            mine = (m for m in data["migrations"] if m["base_schema"] == self.schema)
            active = next((m for m in mine if m["active"]), None)
            if active is not None:  # the verdict of its last health-gated switch
                data["health"] = health_gate.last_verdict(ledger, active["id"])
            return data

    def _summary(self, ledger: Ledger, record: MigrationRecord) -> dict[str, Any]:
        return report.summary(ledger, record, self.schema)
