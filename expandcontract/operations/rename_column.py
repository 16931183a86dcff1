"""rename_column: virtual during expand (the new version's view aliases the column); the
physical RENAME happens at contract, catalog-only."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from expandcontract.operations.base import (
    NOTHING,
    MigrationInvalid,
    Operation,
    Resolved,
    identifier,
    spec_key,
)
from expandcontract.operations.state import PREFIX, VersionState

if TYPE_CHECKING:
    from expandcontract.verify.mapping import VersionMap


@dataclasses.dataclass
class RenameColumn(Operation):
    kind: ClassVar[str] = "rename_column"

    table: str
    old: str = spec_key("from")
    new: str = spec_key("to")

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> RenameColumn:
        return cls(
            identifier(data, "table", where, what="table name"),
            identifier(data, "from", where, what="column name"),
            identifier(data, "to", where, what="column name"),
        )

    def apply(self, state: VersionState, *, where: str) -> Resolved:
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
        return NOTHING

    def link(self, versions: VersionMap) -> None:
        if link := versions.by_new(self.table):
            link.columns = [
                dataclasses.replace(c, new=self.new) if c.new == self.old else c
                for c in link.columns
            ]
