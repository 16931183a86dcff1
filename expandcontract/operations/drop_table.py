"""drop_table: hidden from the new version at once; the old version keeps using it until
contract drops it."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from expandcontract.operations.base import MigrationInvalid, Operation, identifier
from expandcontract.operations.state import VersionState


@dataclasses.dataclass
class DropTable(Operation):
    kind: ClassVar[str] = "drop_table"
    fields: ClassVar[dict[str, bool]] = {"name": True}

    name: str

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> DropTable:
        return cls(identifier(data, "name", where, what="table name"))

    def to_spec(self) -> dict[str, Any]:
        return {"name": self.name}

    def apply(self, state: VersionState, *, where: str) -> None:
        table = state.table(self.name, where)
        if table.origin == "created":
            raise MigrationInvalid(f"{where}: table {self.name!r} is created by this migration")
        del state.tables[self.name]
        state.dropped_tables.add(self.name)
