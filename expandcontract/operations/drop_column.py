"""drop_column: hidden from the new version at once, dropped physically at contract.

While both versions run, rows the new version inserts get ``down`` in the dropped column, so
the old version (which still reads and may require it) sees a sensible value.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from expandcontract.operations.base import (
    DualWrite,
    Expression,
    MigrationInvalid,
    Operation,
    Resolved,
    identifier,
    text,
)
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.expressions import check_expression
from expandcontract.operations.state import VersionState

if TYPE_CHECKING:
    from expandcontract.verify.mapping import VersionMap


@dataclasses.dataclass
class DropColumn(Operation):
    kind: ClassVar[str] = "drop_column"

    table: str
    column: str
    down: str | None = None

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> DropColumn:
        table = identifier(data, "table", where, what="table name")
        column = identifier(data, "column", where, what="column name")
        assert table is not None and column is not None
        down = text(data, "down", where, required=False)
        check_expression(down, what=f"{where}: down")
        return cls(table, column, down)

    def apply(self, state: VersionState, *, where: str) -> Resolved:
        table = state.table(self.table, where)
        column = state.column(table, self.column, where)
        physical = state.physical.tables.get(table.physical)
        if physical is not None and column.physical in physical.primary_key:
            raise MigrationInvalid(f"{where}: cannot drop primary key column {self.column!r}")
        if column.origin != "existing":
            raise MigrationInvalid(
                f"{where}: column {self.column!r} was created or changed earlier in this "
                "migration; remove that operation instead"
            )
        if not column.nullable and column.default is None and self.down is None:
            raise MigrationInvalid(
                f"{where}: {self.table}.{self.column} is NOT NULL without a default, so the old "
                "version cannot store rows the new version inserts",
                "give drop_column a `down` expression: the value the old version sees",
            )
        state.claim(table, column.physical, "drop_column", where)
        del table.columns[self.column]
        return _Dropped(table.physical, column.physical, self.down)

    def link(self, versions: VersionMap) -> None:
        if link := versions.by_new(self.table):
            gone = [c for c in link.columns if c.new == self.column]
            link.columns = [c for c in link.columns if c.new != self.column]
            for c in gone:
                link.dropped[c.old] = self.down


@dataclasses.dataclass(frozen=True)
class _Dropped(Resolved):
    table: str  # physical
    column: str  # physical
    down: str | None

    def expressions(self, ctx: PhaseContext) -> list[Expression]:
        if self.down is None:
            return []
        old_type = ctx.physical.tables[self.table].columns[self.column].type
        return [Expression("down", self.down, old_type, "new", self.table)]

    def dual_writes(self, ctx: PhaseContext) -> list[DualWrite]:
        if self.down is None:
            return []
        # Recomputed for new-version inserts and whenever a column ``down`` reads changes: the
        # old version keeps reading a value derived from the new version's current data.
        return [DualWrite(self.table, self.column, self.down, "down", "always")]
