"""The new version's logical schema while a migration is validated and planned.

The old version is the physical schema itself (each migration starts from a contracted state),
so only the new version needs a mapping: logical table/column -> physical table/column.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING

from expandcontract.operations.base import MigrationInvalid
from expandcontract.schema.model import Schema

if TYPE_CHECKING:
    from expandcontract.operations.sql_views import Declared

PREFIX = "_ec_"  # physical names ec owns during a migration
PENDING = "_ec_pending"  # per-row marker: the row still needs its new-version values


@dataclasses.dataclass
class LogicalColumn:
    name: str
    physical: str
    type: str
    nullable: bool = True
    default: str | None = None  # as the new version sees it (set on the view)
    identity: str = ""
    origin: str = "existing"  # existing | added | duplicated | created


@dataclasses.dataclass
class LogicalTable:
    name: str
    physical: str
    columns: dict[str, LogicalColumn]
    origin: str = "existing"  # existing | created
    needs_backfill: bool = False
    touched_by: dict[str, str] = dataclasses.field(default_factory=dict)  # physical col -> op


class VersionState:
    """Logical tables of the new version, starting as a copy of the physical schema."""

    def __init__(self, physical: Schema) -> None:
        self.physical = physical
        self.tables: dict[str, LogicalTable] = {}
        self.dropped_tables: set[str] = set()
        self.created_indexes: dict[str, str] = {}  # index -> physical table
        self.dropped_indexes: set[str] = set()
        # Tables `sql` operations declare they create or change (operations/sql_views.py):
        # their views are built from the catalog when the step runs.
        self.sql_tables: list[Declared] = []
        for name, table in physical.tables.items():
            if name.startswith(PREFIX):
                continue
            columns = {
                c.name: LogicalColumn(
                    c.name, c.name, c.type, c.nullable, c.default, c.identity, "existing"
                )
                for c in table.columns.values()
                if not c.name.startswith(PREFIX)
            }
            self.tables[name] = LogicalTable(name, name, columns)

    def table(self, name: str, where: str) -> LogicalTable:
        if name in self.tables:
            return self.tables[name]
        if name in self.dropped_tables:
            raise MigrationInvalid(f"{where}: table {name!r} was dropped earlier in this migration")
        renamed = [t.name for t in self.tables.values() if t.physical == name and t.name != name]
        hint = f"it is called {renamed[0]!r} in the new version" if renamed else None
        raise MigrationInvalid(
            f"{where}: table {name!r} does not exist in schema {self.physical.name!r}", hint
        )

    def column(self, table: LogicalTable, name: str, where: str) -> LogicalColumn:
        if name in table.columns:
            return table.columns[name]
        known = ", ".join(table.columns) or "none"
        raise MigrationInvalid(
            f"{where}: column {name!r} does not exist in table {table.name!r}",
            f"its columns in the new version are: {known}",
        )

    def claim(self, table: LogicalTable, physical_column: str, op: str, where: str) -> None:
        """One data-moving operation per physical column: two would fight over the triggers."""
        previous = table.touched_by.get(physical_column)
        if previous:
            raise MigrationInvalid(
                f"{where}: column {physical_column!r} of {table.name!r} is already changed by "
                f"{previous}",
                "combine both changes into one alter_column",
            )
        table.touched_by[physical_column] = f"{op} ({where})"

    def claim_relation_name(self, name: str, table: str, where: str) -> None:
        """An index name ec derives (``users_code_key``, ``_ec_new_…``) must be free too:
        IF NOT EXISTS would otherwise skip the build and reuse someone else's index."""
        taken = (self.physical.relation_names() | set(self.created_indexes)) - self.dropped_indexes
        if name in taken:
            raise MigrationInvalid(
                f"{where}: ec would create index {name!r}, but that name is taken",
                "rename the existing object first",
            )
        self.created_indexes[name] = table

    def new_relation_name_free(self, name: str, where: str, what: str) -> None:
        taken = (
            set(self.tables) | self.physical.relation_names() | set(self.created_indexes)
        ) - self.dropped_indexes
        if name in taken:
            raise MigrationInvalid(f"{where}: cannot create {what} {name!r}: the name is taken")
        if name.startswith(PREFIX):
            raise MigrationInvalid(f"{where}: names starting with {PREFIX!r} are reserved for ec")
        if len(name.encode()) > 63:
            raise MigrationInvalid(f"{where}: {what} name {name!r} is longer than 63 bytes")


def duplicate_name(column: str) -> str:
    """Physical name of a column's new-version twin (fits in 63 bytes; long names get a hash
    so two long columns never share a twin)."""
    name = f"{PREFIX}new_{column}"
    if len(name.encode()) <= 63:
        return name
    digest = hashlib.sha1(column.encode()).hexdigest()[:8]
    return name.encode()[:54].decode(errors="ignore") + "_" + digest
