"""How the old and the new version name the same data: table and column renames, and the
``up``/``down`` expressions a migration gives for columns whose values move."""

from __future__ import annotations

import dataclasses

from expandcontract.engine.migration import Migration


@dataclasses.dataclass(frozen=True)
class ColumnLink:
    """One column seen by both versions: its name in each, and how values cross over."""

    old: str
    new: str
    up: str | None = None  # new value from the old row (old names)
    down: str | None = None  # old value from the new row (new names)


@dataclasses.dataclass
class TableLink:
    old: str
    new: str
    columns: list[ColumnLink] = dataclasses.field(default_factory=list)
    added: dict[str, str | None] = dataclasses.field(default_factory=dict)  # new col -> fill
    added_up: dict[str, str] = dataclasses.field(default_factory=dict)  # new col -> its `up`
    dropped: dict[str, str | None] = dataclasses.field(default_factory=dict)  # old col -> down

    def new_name(self, old_column: str) -> str | None:
        for link in self.columns:
            if link.old == old_column:
                return link.new
        return None

    def old_name(self, new_column: str) -> str | None:
        for link in self.columns:
            if link.new == new_column:
                return link.old
        return None


@dataclasses.dataclass
class VersionMap:
    """Tables present in both versions (by old name), plus created and dropped tables."""

    tables: dict[str, TableLink]
    created: set[str]
    dropped: set[str]
    added_columns: dict[str, set[str]]  # old table name -> columns ec adds (trigger-filled)

    def by_new(self, new_table: str) -> TableLink | None:
        for link in self.tables.values():
            if link.new == new_table:
                return link
        return None


def version_map(migration: Migration, old_columns: dict[str, list[str]]) -> VersionMap:
    """Follow the operations in order over the old version's tables and columns (each
    operation's ``link``)."""
    tables = {
        name: TableLink(name, name, [ColumnLink(c, c) for c in columns])
        for name, columns in old_columns.items()
    }
    created: set[str] = set()
    dropped: set[str] = set()
    added: dict[str, set[str]] = {}

    versions = VersionMap(tables, created, dropped, added)
    for op in migration.operations:
        op.link(versions)
    return versions
