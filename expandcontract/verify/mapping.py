"""How the old and the new version name the same data: table and column renames, and the
``up``/``down`` expressions a migration gives for columns whose values move."""

from __future__ import annotations

import dataclasses

from expandcontract.engine.migration import Migration
from expandcontract.operations.add_column import AddColumn
from expandcontract.operations.alter_column import AlterColumn
from expandcontract.operations.create_table import CreateTable
from expandcontract.operations.drop_column import DropColumn
from expandcontract.operations.drop_table import DropTable
from expandcontract.operations.rename_column import RenameColumn
from expandcontract.operations.rename_table import RenameTable


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
    """Follow the operations in order over the old version's tables and columns."""
    tables = {
        name: TableLink(name, name, [ColumnLink(c, c) for c in columns])
        for name, columns in old_columns.items()
    }
    created: set[str] = set()
    dropped: set[str] = set()
    added: dict[str, set[str]] = {}

    def table(new_name: str) -> TableLink | None:
        return next((t for t in tables.values() if t.new == new_name), None)

    for op in migration.operations:
        if isinstance(op, RenameTable) and (link := table(op.old)):
            link.new = op.new
        elif isinstance(op, RenameColumn) and (link := table(op.table)):
            link.columns = [
                dataclasses.replace(c, new=op.new) if c.new == op.old else c for c in link.columns
            ]
        elif isinstance(op, AlterColumn) and (link := table(op.table)):
            link.columns = [
                dataclasses.replace(c, up=op.up or c.up, down=op.down or c.down)
                if c.new == op.column
                else c
                for c in link.columns
            ]
        elif isinstance(op, AddColumn) and (link := table(op.table)):
            link.added[op.column.name] = op.fill
            if op.up is not None:
                link.added_up[op.column.name] = op.up
            added.setdefault(link.old, set()).add(op.column.name)
        elif isinstance(op, DropColumn) and (link := table(op.table)):
            gone = [c for c in link.columns if c.new == op.column]
            link.columns = [c for c in link.columns if c.new != op.column]
            for c in gone:
                link.dropped[c.old] = op.down
        elif isinstance(op, DropTable) and (link := table(op.name)):
            dropped.add(link.old)
            del tables[link.old]
        elif isinstance(op, CreateTable):
            created.add(op.name)
    return VersionMap(tables, created, dropped, added)
