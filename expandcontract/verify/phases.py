"""The walk: before expand, (during expand), after expand, during backfill, after switch,
after switch back, after contract — each version checked where it must be live (old: until
contract; new: from expand on).

The migration advances in one working database. After each phase, the phase's checks run in
a throwaway clone of it (``CREATE DATABASE ... TEMPLATE``), so checks never disturb the walk.
With ``keep_snapshots`` each phase is also cloned into a snapshot database that stays, so a
phase can be inspected or re-checked without re-running the ones before it.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from expandcontract.config import Settings
from expandcontract.dsn import display_text
from expandcontract.engine.api import Engine
from expandcontract.engine.migration import Migration
from expandcontract.engine.phases import BackfillFn
from expandcontract.errors import ECError
from expandcontract.servers.base import PostgresServer
from expandcontract.verify import catalog, invariants
from expandcontract.verify.across import read_across, write_across
from expandcontract.verify.derived import Derivation, Schemas
from expandcontract.verify.mapping import VersionMap
from expandcontract.verify.report import Report
from expandcontract.verify.static import check_crossing, check_version
from expandcontract.verify.tracker import Key, Tracker
from expandcontract.verify.versions import AppVersion, run_concurrently
from expandcontract.verify.workload import Writer

BEFORE = "before expand"
DURING_EXPAND = "during expand"
AFTER_EXPAND = "after expand"
DURING_BACKFILL = "during backfill"
AFTER_SWITCH = "after switch"
AFTER_SWITCH_BACK = "after switch back"
DURING_CONTRACT = "during contract"
AFTER_CONTRACT = "after contract"


@dataclasses.dataclass
class WalkState:
    """What the walk knows between phases."""

    migration: Migration
    settings: Settings
    old: AppVersion
    new: AppVersion
    vmap: VersionMap
    derived: list[Derivation]  # columns one version computes from the other's row
    tracker: Tracker
    seeded: dict[str, dict[str, list[Key]]]  # version -> table -> keys
    baseline: set[tuple[str, str]]
    rounds: int
    seed: int
    contract_before_switch: bool = False


class Walk:
    def __init__(
        self,
        server: PostgresServer,
        state: WalkState,
        report: Report,
        *,
        backfill: Callable[[str, Settings], BackfillFn],
        prefix: str | None = None,
        keep_snapshots: bool = False,
    ) -> None:
        self.server = server
        self.s = state
        self.report = report
        self.backfill = backfill
        self.prefix = prefix or f"ecv_{uuid.uuid4().hex[:10]}"
        self.keep_snapshots = keep_snapshots
        self.snapshots: dict[str, str] = {}  # phase -> kept template database
        self._sources: dict[str, str] = {}  # phase -> database to clone for its check
        self._n = 0

    # -- databases -------------------------------------------------------------------------
    def name(self, what: str) -> str:
        self._n += 1
        return f"{self.prefix}_{self._n}_{what}"[:63]

    def snapshot(self, phase: str, source: str) -> None:
        """Remember the state after ``phase``. Kept snapshots are databases of their own;
        otherwise the phase's check clones the idle working database directly (it is cloned
        before the walk moves on), which saves one CREATE DATABASE per phase."""
        if self.keep_snapshots:
            name = self.name("snap")
            self.server.create_database(name, template=source)
            self.snapshots[phase] = name
        else:
            self._sources[phase] = source

    def clone(self, phase: str) -> str:
        name = self.name("check")
        source = self.snapshots.get(phase) or self._sources[phase]
        self.server.create_database(name, template=source)
        return name

    def connect(self, db: str) -> psycopg.Connection[Any]:
        return self.server.connect(db)

    # -- checks ----------------------------------------------------------------------------
    def static(self, phase: str, db: str, version: AppVersion, *, prefix: str = "") -> None:
        with self.connect(db) as conn:
            rels = catalog.relations(conn, version.schema)
        filled = self.s.vmap.added_columns if version.name == "old" else {}
        problems = check_version(
            version.metadata,
            rels,
            schema=version.schema,
            version=version.name,
            trigger_filled=filled,
            baseline=self.s.baseline if version.name == "old" else None,
        )
        if version.name == "old" and phase not in (BEFORE, AFTER_CONTRACT):
            with self.connect(db) as conn:
                new_rels = catalog.relations(conn, self.s.new.schema)
            problems += check_crossing(version.metadata, new_rels, self.s.vmap)
        for problem in problems:
            self.report.failed(phase, version.name, "static", prefix + problem)
        if not problems:
            self.report.passed(phase, version.name, "static", f"schema {version.schema} matches")

    def dynamic(
        self,
        phase: str,
        writers: list[Writer],
        *,
        during: Callable[[], object] | None = None,
        prefix: str = "",
    ) -> BaseException | None:
        failure = run_concurrently(
            writers, self.s.seeded, self.s.seed + self._n, rounds=self.s.rounds, during=during
        )
        for w in writers:
            self._report_writes(phase, w, prefix=prefix)
            if not w.failures:
                self.report.passed(
                    phase, w.version, "dynamic", f"{w.statements} statements succeeded"
                )
        return failure

    def _report_writes(self, phase: str, w: Writer, *, prefix: str = "", since: int = 0) -> None:
        for f in w.failures[since:]:
            self.report.failed(phase, w.version, "dynamic", prefix + f.reason, f.statement)
        if w.suppressed and not since:
            self.report.failed(
                phase, w.version, "dynamic", f"... and {w.suppressed} more distinct failures"
            )

    def user(self, phase: str, db: str, version: AppVersion) -> None:
        if version.check is None:
            return
        engine = version.engine(self.server.url_for(db))
        try:
            with engine.begin() as conn:
                version.check(conn)
        except Exception as exc:
            self.report.failed(
                phase,
                version.name,
                "user",
                f"{version.check_name} failed: {type(exc).__name__}: {display_text(str(exc))}",
            )
        else:
            self.report.passed(phase, version.name, "user", f"{version.check_name} passed")
        finally:
            engine.dispose()

    def cross(self, phase: str, db: str, tracker: Tracker) -> None:
        with self.connect(db) as conn:
            try:
                problems = read_across(
                    conn,
                    self.s.vmap,
                    tracker,
                    self.s.derived,
                    self._schemas(),
                    self.s.settings.schema,
                    before_backfill=phase == AFTER_EXPAND,
                    pending_reported=phase == DURING_BACKFILL,
                )
            except psycopg.Error as exc:  # e.g. a relation a failed phase left missing
                problems = [
                    (
                        "new",
                        "could not read the rows both versions wrote: " + str(exc).splitlines()[0],
                    )
                ]
        for version, problem in problems:
            self.report.failed(phase, version, "invariants", problem)
        if not problems:
            self.report.passed(
                phase, "new", "invariants", "old writes read by the new version and vice versa"
            )

    def _schemas(self) -> Schemas:
        s = self.s
        return Schemas(s.old.schema, s.new.schema, s.old.metadata, s.new.metadata)

    def cross_writes(self, phase: str, db: str, writers: list[Writer]) -> None:
        """Each derived column, written by its reader and then through what it reads by the
        other version (both live)."""
        by_version = {w.version: w for w in writers}
        seen = {w.version: len(w.failures) for w in writers}
        outcome = write_across(
            lambda: self.connect(db),
            by_version,
            self.s.derived,
            self.s.seeded,
            self._schemas(),
            self.s.seed + self._n,
        )
        for w in writers:
            self._report_writes(phase, w, since=seen[w.version])
            w.engine.dispose()
        for version, problem in outcome.problems:
            self.report.failed(phase, version, "invariants", problem)
        if not outcome.problems and outcome.exercised:
            self.report.passed(phase, "new", "invariants", outcome.summary())

    def invariant(self, phase: str, problems: list[str], ok: str, version: str = "new") -> None:
        for problem in problems:
            self.report.failed(phase, version, "invariants", problem)
        if not problems:
            self.report.passed(phase, version, "invariants", ok)

    def check_phase(self, phase: str, live: list[AppVersion], *, prefix: str = "") -> None:
        """Static, dynamic (live versions concurrently), invariants and user checks in a clone."""
        db = self.clone(phase)
        try:
            for version in live:
                self.static(phase, db, version, prefix=prefix if version.name == "old" else "")
            tracker = self.s.tracker.copy()
            writers = self._writers(db, live, phase, tracker)
            self.dynamic(phase, writers, prefix=prefix)
            if len(live) == 2 and phase != AFTER_CONTRACT:  # contract removed the old columns
                self.cross(phase, db, tracker)
                self.cross_writes(phase, db, writers)
            for version in live:
                self.user(phase, db, version)
        finally:
            self.server.drop_database(db)

    # -- the walk --------------------------------------------------------------------------
    def migration_failed(
        self, phase: str, exc: BaseException, work: str, live: list[AppVersion]
    ) -> None:
        """Record why the phase failed, then check the live versions against what the failed
        phase left behind: production would run on exactly that."""
        message = exc.message if isinstance(exc, ECError) else f"{type(exc).__name__}: {exc}"
        self.report.failed(
            phase, "migration", "migration", f"{phase} failed: {display_text(message)}"
        )
        after = f"after failed {phase}"
        self.snapshot(after, work)
        self.check_phase(after, live)

    def run(self, base_db: str) -> None:
        s = self.s
        if self.keep_snapshots:
            self.snapshots[BEFORE] = base_db
        self._sources[BEFORE] = base_db
        self.check_phase(BEFORE, [s.old])
        work = self.name("work")
        self.server.create_database(work, template=base_db)
        url = self.server.url_for(work)
        engine = Engine(url, s.settings, backfill=self.backfill(url, s.settings), sink=None)
        try:
            self._walk(work, engine)
        finally:
            self.server.drop_database(work)

    def _writers(
        self,
        db: str,
        live: list[AppVersion],
        phase: str,
        tracker: Tracker | None = None,
        *,
        trigger: bool = False,
    ) -> list[Writer]:
        """Each live version's writer. Where ec's dual-write trigger runs (both versions live,
        or ``trigger``: during contract), a write that one of the writer's derivations cannot
        hold is explained."""
        url = self.server.url_for(db)
        writers = []
        for v in live:
            w = v.writer(url, tracker or self.s.tracker, self.s.seed + self._n, phase)
            if len(live) == 2 or trigger:
                other = self.s.new if v.name == "old" else self.s.old
                w.derivations = [d for d in self.s.derived if d.source == v.name]
                w.other_metadata = other.metadata
                w.other_live = len(live) == 2
            writers.append(w)
        return writers

    def _walk(self, work: str, engine: Engine) -> None:
        s = self.s
        old, new = s.old, s.new
        failure = self.dynamic(
            DURING_EXPAND,
            self._writers(work, [old], DURING_EXPAND),
            during=lambda: engine.apply(s.migration, through="expand"),
        )
        if failure is not None:
            return self.migration_failed("expand", failure, work, [old])
        self.snapshot(AFTER_EXPAND, work)
        self.check_phase(AFTER_EXPAND, [old, new])

        with self.connect(work) as conn:
            old_before = invariants.snapshot(conn, old.schema, old.metadata)
        failure = self.dynamic(
            DURING_BACKFILL,
            self._writers(work, [old, new], DURING_BACKFILL),
            during=lambda: engine.apply(s.migration, through="backfill"),
        )
        if failure is not None:
            return self.migration_failed("backfill", failure, work, [old, new])
        with self.connect(work) as conn:
            pending = invariants.pending_rows(conn, s.settings.schema, s.derived, self._schemas())
            old_after = invariants.snapshot(conn, old.schema, old.metadata)
        touched = self._touched({DURING_BACKFILL})
        changed = invariants.diff_snapshots(
            old_before,
            old_after,
            what="the backfill changed what the old version reads",
            skip=touched,
        )
        self.invariant(DURING_BACKFILL, pending, "every row converted")
        self.invariant(DURING_BACKFILL, changed, "the old version's rows unchanged", "old")
        self.cross(DURING_BACKFILL, work, s.tracker)
        self.snapshot(DURING_BACKFILL, work)

        if s.contract_before_switch:
            return self._contract(work, engine, [old, new])
        engine.switch()
        self.snapshot(AFTER_SWITCH, work)
        self.check_phase(AFTER_SWITCH, [old, new])
        engine.switch(back=True)
        self.snapshot(AFTER_SWITCH_BACK, work)
        self.check_phase(AFTER_SWITCH_BACK, [old, new])
        engine.switch()
        return self._contract(work, engine, [new])

    def _contract(self, work: str, engine: Engine, live: list[Any]) -> None:
        s = self.s
        with self.connect(work) as conn:
            new_before = invariants.snapshot(conn, s.new.schema, s.new.metadata)
            # rows still pending (reported after the backfill): contract computes them now
            pending = invariants.pending_keys(conn, s.settings.schema, s.old.metadata)
        prefix = ""
        if s.contract_before_switch:
            prefix = "contract ran while the old version is still live (before the switch); "
        failure = self.dynamic(
            DURING_CONTRACT,
            self._writers(work, live, DURING_CONTRACT, trigger=True),
            during=engine.complete,
            prefix=prefix,
        )
        if failure is not None:
            return self.migration_failed("contract", failure, work, live)
        with self.connect(work) as conn:
            new_after = invariants.snapshot(conn, s.new.schema, s.new.metadata)
        lost = invariants.diff_snapshots(
            self._renamed(new_before),
            self._renamed(new_after),
            what="lost across contract",
            skip=self._touched({DURING_CONTRACT})
            | {(table, key) for table, keys in pending.items() for key in keys},
        )
        self.invariant(DURING_CONTRACT, lost, "nothing written by either version lost")
        self.snapshot(AFTER_CONTRACT, work)
        self.check_phase(AFTER_CONTRACT, live, prefix=prefix)
        return None

    def _renamed(self, snap: invariants.Snapshot) -> invariants.Snapshot:
        """Key a new-version snapshot by the old version's table names (the tracker's)."""
        out: invariants.Snapshot = {}
        for table, rows in snap.items():
            link = self.s.vmap.by_new(table)
            out[link.old if link else table] = rows
        return out

    def _touched(self, phases: set[str]) -> set[tuple[str, Key]]:
        rows = self.s.tracker.live()
        touched = {k for k, w in rows.items() if w.phase in phases}
        return touched | set(self.s.tracker.deleted)
