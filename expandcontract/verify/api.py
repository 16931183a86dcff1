"""``verify_migration``: the library entry point behind ``ec verify`` and the pytest helper."""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData

from expandcontract.config import Settings
from expandcontract.engine.migration import Migration, load
from expandcontract.engine.phases import BackfillFn
from expandcontract.errors import ConfigError
from expandcontract.servers import AUTO_ORDER, PostgresServer, start_server
from expandcontract.servers.container import docker_reason
from expandcontract.verify import catalog
from expandcontract.verify.alembic_source import AlembicRevision
from expandcontract.verify.base import Reference, apply_history, create_all, run_sql_file, seed
from expandcontract.verify.derived import derivations
from expandcontract.verify.inputs import UserCheck, as_metadata
from expandcontract.verify.mapping import VersionMap, version_map
from expandcontract.verify.phases import BEFORE, Walk, WalkState
from expandcontract.verify.pools import ValuePools
from expandcontract.verify.report import Report
from expandcontract.verify.seed import RowFactory, UniqueRegistry
from expandcontract.verify.static import check_version
from expandcontract.verify.tracker import Key, Tracker
from expandcontract.verify.versions import AppVersion

DEFAULT_ROWS = 200
CONTAINER_FIRST = ("url", "container", "embedded", "local")


def verify_backfill(url: str, settings: Settings) -> BackfillFn:
    """ec's own backfill, tuned for a throwaway database: small batches (so the workloads
    interleave with it) and no throttles (nothing to protect)."""
    from expandcontract.backfill import BackfillSettings
    from expandcontract.engine.backfill import table_backfill

    tuning = BackfillSettings(
        batch_start_rows=200,
        pause_on_blocking=False,
        max_replica_lag_s=None,
        max_dead_tuple_ratio=None,
        active_sessions_factor=None,
        pause_on_autovacuum="off",
    )
    return table_backfill(url, settings, tuning=tuning)


@contextlib.contextmanager
def throwaway_server(server: str | PostgresServer) -> Iterator[tuple[PostgresServer, str]]:
    """A started server and its kind; ``auto`` prefers a container when Docker answers."""
    if isinstance(server, PostgresServer):
        yield server.start(), server.kind
        return
    if server == "auto":
        order = CONTAINER_FIRST if docker_reason() is None else AUTO_ORDER
        started = start_server("auto", order=order)
    else:
        started = start_server(server)
    try:
        yield started, started.kind
    finally:
        started.stop()


def verify_migration(
    migration: Migration | AlembicRevision | str | Path,
    *,
    old: Any,
    new: Any,
    old_check: UserCheck | None = None,
    new_check: UserCheck | None = None,
    base_sql: str | Path | None = None,
    history: str | Path | None = None,
    server: str | PostgresServer = "auto",
    rows: int = DEFAULT_ROWS,
    seed: int = 0,
    rounds: int = 3,
    schema: str = "public",
    contract_before_switch: bool = False,
    backfill: Callable[[str, Settings], BackfillFn] | None = None,
    keep_snapshots: bool = False,
) -> Report:
    """Walk ``migration`` through every phase in throwaway databases and check the old and the
    new app version (MetaData, declarative Base, or a callable returning one) at each.

    ``contract_before_switch``: your rollout contracts right after the backfill, while the old
    version still runs (it is checked after contract too). ``backfill``: a factory
    ``(url, settings) -> BackfillFn`` replacing ec's backfill (e.g. your own job).
    ``keep_snapshots``: leave the per-phase snapshot databases on a server you passed in
    (``report.meta["snapshots"]``: phase -> database) to re-check or inspect a phase.
    An ``AlembicRevision`` (``alembic_source.load_revision``) brings its own schema before the
    migration: Alembic upgrades the base database to the revision's down revisions."""
    if keep_snapshots and not isinstance(server, PostgresServer):
        raise ConfigError("keep_snapshots needs a server you own: pass a started PostgresServer")
    alembic: AlembicRevision | None = None
    if isinstance(migration, AlembicRevision):
        if base_sql is not None or history is not None:
            raise ConfigError(
                "--alembic builds the schema before the migration: drop --base-sql/--history"
            )
        alembic, migration = migration, migration.migration
    elif isinstance(migration, (str, Path)):
        migration = load(migration)
    if base_sql is not None and history is not None:
        raise ConfigError("give either --base-sql or --history, not both")
    if rows < 1:
        raise ConfigError("--rows must be at least 1")
    old_md, new_md = as_metadata(old, option="--old"), as_metadata(new, option="--new")
    started = time.monotonic()
    report = Report(migration.name)
    setup = _Setup(
        migration,
        old_md,
        new_md,
        checks=(old_check, new_check),
        base_sql=Path(base_sql) if base_sql is not None else None,
        history=Path(history) if history is not None else None,
        settings=Settings(schema=schema),
        rows=rows,
        seed=seed,
        rounds=rounds,
        contract_before_switch=contract_before_switch,
        backfill=backfill or verify_backfill,
        keep_snapshots=keep_snapshots,
        alembic=alembic,
    )
    if alembic is not None:
        report.meta["alembic"] = {
            "revision": alembic.revision,
            "path": str(alembic.path),
            "unchecked_operations_after": alembic.ops_after,
        }
    with throwaway_server(server) as (pg, kind):
        report.meta.update({"server": kind, "rows": rows, "seed": seed})
        setup.run(pg, report)
    report.meta["seconds"] = round(time.monotonic() - started, 2)
    return report


class _Setup:
    def __init__(
        self,
        migration: Migration,
        old_md: MetaData,
        new_md: MetaData,
        *,
        checks: tuple[UserCheck | None, UserCheck | None],
        base_sql: Path | None,
        history: Path | None,
        settings: Settings,
        rows: int,
        seed: int,
        rounds: int,
        contract_before_switch: bool,
        backfill: Callable[[str, Settings], BackfillFn],
        keep_snapshots: bool,
        alembic: AlembicRevision | None = None,
    ) -> None:
        self.migration = migration
        self.alembic = alembic
        self.old_md, self.new_md = old_md, new_md
        self.checks = checks
        self.base_sql, self.history = base_sql, history
        self.settings = settings
        self.rows, self.seed, self.rounds = rows, seed, rounds
        self.contract_before_switch = contract_before_switch
        self.backfill = backfill
        self.keep_snapshots = keep_snapshots

    def run(self, pg: PostgresServer, report: Report) -> None:
        prefix = f"ecv_{uuid.uuid4().hex[:10]}"
        created: list[str] = []
        walk: Walk | None = None

        def database(what: str) -> str:
            name = f"{prefix}_{what}"
            pg.create_database(name)
            created.append(name)
            return name

        references: list[Reference] = []
        try:
            ref_old = Reference(pg.url_for(database("ref_old")), self.old_md, "--old")
            references.append(ref_old)
            ref_new = Reference(pg.url_for(database("ref_new")), self.new_md, "--new")
            references.append(ref_new)
            base = database("base")
            old_schema = self._build_base(pg.url_for(base))
            state = self._state(pg, base, old_schema, ref_old, ref_new, report)
            if report.compatible:
                walk = Walk(
                    pg,
                    state,
                    report,
                    backfill=self.backfill,
                    prefix=prefix,
                    keep_snapshots=self.keep_snapshots,
                )
                walk.run(base)
        finally:
            for ref in references:
                ref.close()
            snapshots = dict(walk.snapshots) if walk is not None else {}
            if self.keep_snapshots:
                report.meta["snapshots"] = snapshots
                created = [c for c in created if c not in snapshots.values()]
                snapshots = {}
            for name in dict.fromkeys([*snapshots.values(), *created]):
                pg.drop_database(name)

    def _build_base(self, url: str) -> str:
        """Build the schema before the migration; returns the schema the old version uses."""
        schema = self.settings.schema
        if self.alembic is not None:
            self.alembic.build_base(url)
            return _current_schema(url, self.settings)
        if self.base_sql is not None:
            run_sql_file(url, self.base_sql)
            return schema
        if self.history is not None:
            from expandcontract.engine.api import Engine

            apply_history(url, self.history, self.settings)
            status = Engine(url, self.settings, sink=None).status()
            return str(status["current_schema"])
        create_all(url, self.old_md, schema)
        return schema

    def _state(
        self,
        pg: PostgresServer,
        base: str,
        old_schema: str,
        ref_old: Reference,
        ref_new: Reference,
        report: Report,
    ) -> WalkState:
        s = self.settings
        vmap = version_map(
            self.migration, {t.name: [c.name for c in t.columns] for t in self.old_md.sorted_tables}
        )
        new_schema = self.migration.schema_for(s.schema)
        registry = UniqueRegistry()
        pools = ValuePools(self.seed)  # one draw per column for the whole run
        parents: dict[tuple[str, str], list[Any]] = {}
        common = {"base_schema": s.schema, "ledger_schema": s.ledger_schema}
        old_check, new_check = self.checks
        old = AppVersion(
            "old",
            self.old_md,
            old_schema,
            reference=ref_old,
            registry=registry,
            pools=pools,
            parents=parents,
            identity=lambda t: t,
            unique_key=lambda t, cols: (t, cols),
            check=old_check,
            check_name=_name(old_check),
            **common,
        )
        new_parents: dict[tuple[str, str], list[Any]] = {}
        new = AppVersion(
            "new",
            self.new_md,
            new_schema,
            reference=ref_new,
            registry=registry,
            pools=pools,
            parents=new_parents,
            identity=_to_old(vmap),
            unique_key=_unique_key(vmap),
            check=new_check,
            check_name=_name(new_check),
            **common,
        )
        tracker = Tracker()
        factory = RowFactory(random.Random(self.seed), registry, parents, pools=pools)
        engine = old.engine(pg.url_for(base))
        try:
            keys, failures = seed(engine, self.old_md, factory, ref_old, tracker, self.rows)
        finally:
            engine.dispose()
        for statement, reason in failures:
            report.failed(BEFORE, "old", "dynamic", f"seeding: {reason}", statement)
        if failures:  # the walk stops here: say why the base schema refuses the old version
            with pg.connect(base) as conn:
                rels = catalog.relations(conn, old_schema)
            problems = check_version(self.old_md, rels, schema=old_schema, version="old")
            for problem in problems:
                report.failed(BEFORE, "old", "static", problem)
        _map_parents(parents, new_parents, vmap)
        with pg.connect(base) as conn:
            conn.execute("ANALYZE")
            baseline = catalog.constraint_names(catalog.relations(conn, old_schema))
        seeded = {"old": keys, "new": _keys_for_new(keys, vmap)}
        return WalkState(
            self.migration,
            s,
            old,
            new,
            vmap,
            derivations(vmap, self.old_md, self.new_md),
            tracker,
            seeded,
            baseline,
            rounds=self.rounds,
            seed=self.seed,
            contract_before_switch=self.contract_before_switch,
        )


def _current_schema(url: str, settings: Settings) -> str:
    """Where the old version lives after Alembic's upgrade: the base schema, or the version
    schema of an earlier ec migration the revisions ran."""
    import psycopg

    from expandcontract.dsn import to_psycopg
    from expandcontract.engine.api import Engine

    with psycopg.connect(to_psycopg(url)) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (settings.ledger_schema,)
        ).fetchone()
    if found is None:
        return settings.schema
    return str(Engine(url, settings, sink=None).status()["current_schema"])


def _name(check: UserCheck | None) -> str:
    if check is None:
        return ""
    return f"{getattr(check, '__module__', '?')}:{getattr(check, '__qualname__', repr(check))}"


def _to_old(vmap: VersionMap) -> Callable[[str], str | None]:
    def identity(new_table: str) -> str | None:
        link = vmap.by_new(new_table)
        return link.old if link else None

    return identity


def _unique_key(vmap: VersionMap) -> Callable[[str, tuple[str, ...]], Any]:
    def key(new_table: str, columns: tuple[str, ...]) -> Any:
        link = vmap.by_new(new_table)
        if link is None:
            return ("new", new_table, columns)
        return (link.old, tuple(link.old_name(c) or c for c in columns))

    return key


def _map_parents(
    old: dict[tuple[str, str], list[Any]],
    new: dict[tuple[str, str], list[Any]],
    vmap: VersionMap,
) -> None:
    """The new version's foreign keys point at the same seeded parents, by its names."""
    for (table, column), values in old.items():
        link = vmap.tables.get(table)
        if link is not None and (name := link.new_name(column)):
            new[(link.new, name)] = values


def _keys_for_new(keys: dict[str, list[Key]], vmap: VersionMap) -> dict[str, list[Key]]:
    out = {}
    for table, values in keys.items():
        link = vmap.tables.get(table)
        if link is not None:
            out[link.new] = values
    return out
