"""drop_column: hidden from the new version at once, dropped physically at contract.

While both versions run, rows the new version inserts get ``down`` in the dropped column, so
the old version (which still reads and may require it) sees a sensible value.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from expandcontract.operations.base import DualWrite, MigrationInvalid, Operation, identifier, text
from expandcontract.operations.expressions import check_expression
from expandcontract.operations.state import VersionState


@dataclasses.dataclass
class DropColumn(Operation):
    kind: ClassVar[str] = "drop_column"
    fields: ClassVar[dict[str, bool]] = {"table": True, "column": True, "down": False}

    table: str
    column: str
    down: str | None = None
    _physical: tuple[str, str] = dataclasses.field(default=("", ""), repr=False)

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> DropColumn:
        table = identifier(data, "table", where, what="table name")
        column = identifier(data, "column", where, what="column name")
        assert table is not None and column is not None
        down = text(data, "down", where, required=False)
        check_expression(down, what=f"{where}: down")
        return cls(table, column, down)

    def to_spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"table": self.table, "column": self.column}
        if self.down is not None:
            out["down"] = self.down
        return out

    def apply(self, state: VersionState, *, where: str) -> None:
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
        self._physical = (table.physical, column.physical)

    def dual_writes(self, ctx: Any) -> list[DualWrite]:
        if self.down is None:
            return []
        # Recomputed for new-version inserts and whenever a column ``down`` reads changes: the
        # old version keeps reading a value derived from the new version's current data.
        return [DualWrite(self._physical[0], self._physical[1], self.down, "down", "always")]
