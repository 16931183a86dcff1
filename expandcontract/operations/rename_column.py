"""rename_column: virtual during expand (the new version's view aliases the column); the
physical RENAME happens at contract, catalog-only."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from expandcontract.operations.base import MigrationInvalid, Operation, identifier
from expandcontract.operations.state import PREFIX, VersionState


@dataclasses.dataclass
class RenameColumn(Operation):
    kind: ClassVar[str] = "rename_column"
    fields: ClassVar[dict[str, bool]] = {"table": True, "from": True, "to": True}

    table: str
    old: str
    new: str

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> RenameColumn:
        return cls(
            identifier(data, "table", where, what="table name"),
            identifier(data, "from", where, what="column name"),
            identifier(data, "to", where, what="column name"),
        )

    def to_spec(self) -> dict[str, Any]:
        return {"table": self.table, "from": self.old, "to": self.new}

    def apply(self, state: VersionState, *, where: str) -> None:
        table = state.table(self.table, where)
        column = state.column(table, self.old, where)
        if self.new in table.columns:
            raise MigrationInvalid(f"{where}: column {self.new!r} already exists in {self.table!r}")
        if self.new.startswith(PREFIX):
            raise MigrationInvalid(f"{where}: names starting with {PREFIX!r} are reserved for ec")
        # Keep the column's position in the view.
        table.columns = {
            (self.new if name == self.old else name): col for name, col in table.columns.items()
        }
        column.name = self.new
