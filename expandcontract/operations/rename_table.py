"""rename_table: virtual during expand (the new version's view has the new name); the physical
RENAME happens at contract, catalog-only."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from expandcontract.operations.base import NOTHING, Operation, Resolved, identifier, spec_key
from expandcontract.operations.state import VersionState

if TYPE_CHECKING:
    from expandcontract.verify.mapping import VersionMap


@dataclasses.dataclass
class RenameTable(Operation):
    kind: ClassVar[str] = "rename_table"

    old: str = spec_key("from")
    new: str = spec_key("to")

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> RenameTable:
        return cls(
            identifier(data, "from", where, what="table name"),
            identifier(data, "to", where, what="table name"),
        )

    def apply(self, state: VersionState, *, where: str) -> Resolved:
        table = state.table(self.old, where)
        state.new_relation_name_free(self.new, where, "table")
        del state.tables[self.old]
        table.name = self.new
        state.tables[self.new] = table
        return NOTHING

    def link(self, versions: VersionMap) -> None:
        if link := versions.by_new(self.old):
            link.new = self.new
