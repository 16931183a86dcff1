"""Which constraint names the new version has, per physical table, while a migration is planned:
what exists, what this migration creates, drops and renames. Operations later in the same
migration see the earlier ones' names (drop then create X, rename then drop the new name)."""

from __future__ import annotations

import dataclasses
import weakref

from expandcontract.operations import ddl
from expandcontract.operations.base import MigrationInvalid, check_name
from expandcontract.operations.state import PREFIX, LogicalTable, VersionState

KIND_WORDS = {"p": "primary key", "u": "unique", "c": "check", "f": "foreign key",
              "x": "exclusion", "n": "not null"}  # fmt: skip
KIND_LETTERS = {"primary_key": "p", "unique": "u", "check": "c", "foreign_key": "f"}


@dataclasses.dataclass
class Known:
    kind: str  # p u c f x n (pg_constraint.contype)
    columns: list[str]  # physical columns
    origin: str = "existing"  # existing | created
    renamed_from: str | None = None  # an existing constraint renamed earlier in the migration


class ConstraintNames:
    def __init__(self, state: VersionState) -> None:
        self.state = state
        self.live: dict[str, dict[str, Known]] = {
            name: {c.name: Known(c.kind, list(c.columns)) for c in table.constraints.values()}
            for name, table in state.physical.tables.items()
        }
        self.leaving: dict[str, set[str]] = {}  # existing names dropped or renamed away

    def on(self, table: LogicalTable) -> dict[str, Known]:
        return self.live.setdefault(table.physical, {})

    def find(self, table: LogicalTable, name: str, where: str) -> Known:
        known = self.on(table).get(name)
        if known is None:
            names = ", ".join(sorted(n for n, k in self.on(table).items() if k.kind != "n"))
            raise MigrationInvalid(
                f"{where}: table {table.name!r} has no constraint {name!r}",
                f"its constraints in the new version: {names or 'none'}",
            )
        return known

    def exists_now(self, table: LogicalTable, name: str) -> bool:
        """Physically present while the migration runs (until contract removes it)."""
        physical = self.state.physical.tables.get(table.physical)
        return physical is not None and name in physical.constraints

    def check_free(self, table: LogicalTable, name: str, kind: str, where: str) -> None:
        check_name(name, where, what="constraint name")
        if name.startswith(PREFIX):
            raise MigrationInvalid(f"{where}: names starting with {PREFIX!r} are reserved for ec")
        if name in self.on(table):
            raise MigrationInvalid(
                f"{where}: table {table.name!r} already has a constraint named {name!r}",
                "drop or rename it earlier in this migration, or choose another name",
            )
        if kind in ("u", "p") and self._relation_taken(table, name):
            raise MigrationInvalid(
                f"{where}: {name!r} is already the name of a table or index, and the index "
                f"of a {KIND_WORDS[kind]} constraint takes its constraint's name",
                "choose another name",
            )

    def _relation_taken(self, table: LogicalTable, name: str) -> bool:
        """Index names share the schema's namespace; the index of a constraint leaving this
        migration is free (the new one is built under a temporary name)."""
        physical = self.state.physical
        taken = (physical.relation_names() | set(self.state.created_indexes)) - set(
            self.state.dropped_indexes
        )
        leaving_indexes = {
            c.index
            for t in physical.tables.values()
            for c in t.constraints.values()
            if c.index and c.name in self.leaving.get(t.name, set())
        }
        return name in taken - leaving_indexes

    def create(
        self, table: LogicalTable, name: str, kind: str, columns: list[str], where: str
    ) -> str:
        """Record a new constraint; returns the name to build it under."""
        self.check_free(table, name, kind, where)
        physical = self.state.physical.tables.get(table.physical)
        if physical is not None and physical.kind == "p":
            old_server = self.state.physical.server_version < 180000
            if kind in ("u", "p") or (kind == "f" and old_server):
                raise MigrationInvalid(
                    f"{where}: {table.name!r} is partitioned: PostgreSQL cannot build this "
                    f"{KIND_WORDS[kind]} constraint without blocking writes "
                    + (
                        "(no CONCURRENTLY index build)"
                        if kind != "f"
                        else "(no NOT VALID before 18)"
                    ),
                    "add it to each partition, or use a raw sql operation",
                )
        # An index of that name still exists until contract drops it (drop_index, or the index
        # of a dropped constraint): IF NOT EXISTS would skip the build and adopt the old one.
        index_taken = kind in ("u", "p") and name in self.state.physical.relation_names()
        build = name
        if self.exists_now(table, name) or index_taken:
            build = ddl.object_name(f"{PREFIX}next", name, suffix="con")
        if kind in ("u", "p"):
            self.state.claim_relation_name(build, table.physical, where)
        self.on(table)[name] = Known(kind, columns, "created")
        return build

    def remove(self, table: LogicalTable, name: str) -> Known:
        known = self.on(table).pop(name)
        if known.origin == "existing":
            self.leaving.setdefault(table.physical, set()).add(name)
        return known

    def rename(self, table: LogicalTable, old: str, new: str) -> None:
        known = self.remove(table, old)
        first = known.renamed_from or (old if known.origin == "existing" else None)
        self.on(table)[new] = dataclasses.replace(known, renamed_from=first)


_REGISTRIES: weakref.WeakKeyDictionary[VersionState, ConstraintNames] = weakref.WeakKeyDictionary()


def names(state: VersionState) -> ConstraintNames:
    """The registry of one planning run (it lives as long as its VersionState)."""
    registry = _REGISTRIES.get(state)
    if registry is None:
        registry = _REGISTRIES[state] = ConstraintNames(state)
    return registry
