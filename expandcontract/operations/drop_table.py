"""drop_table: hidden from the new version at once; the old version keeps using it until
contract drops it."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from expandcontract.operations.base import (
    NOTHING,
    MigrationInvalid,
    Operation,
    Resolved,
    identifier,
)
from expandcontract.operations.state import VersionState

if TYPE_CHECKING:
    from expandcontract.verify.mapping import VersionMap


@dataclasses.dataclass
class DropTable(Operation):
    kind: ClassVar[str] = "drop_table"

    name: str

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> DropTable:
        return cls(identifier(data, "name", where, what="table name"))

    def apply(self, state: VersionState, *, where: str) -> Resolved:
        table = state.table(self.name, where)
        if table.origin == "created":
            raise MigrationInvalid(f"{where}: table {self.name!r} is created by this migration")
        del state.tables[self.name]
        state.dropped_tables.add(self.name)
        return NOTHING

    def link(self, versions: VersionMap) -> None:
        if link := versions.by_new(self.name):
            versions.dropped.add(link.old)
            del versions.tables[link.old]
