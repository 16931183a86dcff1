"""drop_index: the old version may still rely on it, so it goes at contract, CONCURRENTLY."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from expandcontract.operations.base import (
    MigrationInvalid,
    Operation,
    PlannedStep,
    Resolved,
    identifier,
)
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.ddl import drop_index_concurrently
from expandcontract.operations.state import VersionState


@dataclasses.dataclass
class DropIndex(Operation):
    kind: ClassVar[str] = "drop_index"

    name: str

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> DropIndex:
        return cls(identifier(data, "name", where, what="index name"))

    def apply(self, state: VersionState, *, where: str) -> Resolved:
        owner = state.physical.index_owner(self.name)
        if owner is None or self.name in state.dropped_indexes:
            raise MigrationInvalid(f"{where}: index {self.name!r} does not exist")
        table = state.physical.tables[owner]
        backing = [c.name for c in table.constraints.values() if c.index == self.name]
        if backing:
            raise MigrationInvalid(
                f"{where}: index {self.name!r} backs constraint {backing[0]!r} of {owner!r}",
                "drop the constraint instead (sql operation on contract)",
            )
        state.dropped_indexes.add(self.name)
        return _Dropped(self.name)


@dataclasses.dataclass(frozen=True)
class _Dropped(Resolved):
    name: str

    def contract(self, ctx: PhaseContext) -> list[PlannedStep]:
        return [drop_index_concurrently(ctx.schema, self.name)]
