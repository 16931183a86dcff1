"""rename_table: virtual during expand (the new version's view has the new name); the physical
RENAME happens at contract, catalog-only."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from expandcontract.operations.base import Operation, identifier
from expandcontract.operations.state import VersionState


@dataclasses.dataclass
class RenameTable(Operation):
    kind: ClassVar[str] = "rename_table"
    fields: ClassVar[dict[str, bool]] = {"from": True, "to": True}

    old: str
    new: str

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> RenameTable:
        return cls(
            identifier(data, "from", where, what="table name"),
            identifier(data, "to", where, what="table name"),
        )

    def to_spec(self) -> dict[str, Any]:
        return {"from": self.old, "to": self.new}

    def apply(self, state: VersionState, *, where: str) -> None:
        table = state.table(self.old, where)
        state.new_relation_name_free(self.new, where, "table")
        del state.tables[self.old]
        table.name = self.new
        state.tables[self.new] = table
