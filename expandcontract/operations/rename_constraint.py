"""rename_constraint: a name only, so nothing moves: both versions see the old name while the
migration runs, and contract renames it (catalog-only; a unique or primary key constraint's
index takes the new name too). Later operations of the migration use the new name."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import psycopg

from expandcontract.operations import constraint_names
from expandcontract.operations.base import (
    MigrationInvalid,
    Operation,
    PlannedStep,
    Resolved,
    identifier,
    spec_key,
)
from expandcontract.operations.constraints import rename_step
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.state import LogicalTable, VersionState


@dataclasses.dataclass
class RenameConstraint(Operation):
    kind: ClassVar[str] = "rename_constraint"

    table: str
    from_: str = spec_key("from")
    to: str = spec_key("to")

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> RenameConstraint:
        return cls(
            identifier(data, "table", where, what="table name"),
            identifier(data, "from", where, what="constraint name"),
            identifier(data, "to", where, what="constraint name"),
        )

    def apply(self, state: VersionState, *, where: str) -> Resolved:
        table = state.table(self.table, where)
        registry = constraint_names.names(state)
        known = registry.find(table, self.from_, where)
        if self.to == self.from_:
            raise MigrationInvalid(f"{where}: from and to are the same name")
        registry.check_free(table, self.to, known.kind, where)
        if known.kind in ("u", "p"):  # its index takes the name (checked free above)
            state.created_indexes[self.to] = table.physical
        registry.rename(table, self.from_, self.to)
        columns = list(known.columns) if known.origin == "existing" else []
        return _Renamed(self, table, columns)


@dataclasses.dataclass(frozen=True)
class _Renamed(Resolved):
    op: RenameConstraint
    logical: LogicalTable
    columns: list[str]  # physical columns of an existing constraint

    def probe(self, conn: psycopg.Connection[Any], ctx: PhaseContext, where: str) -> None:
        """A column another operation duplicates carries a copy of the constraint that takes
        the old name back after the swap; a dropped column takes the constraint with it."""
        kept = {c.physical for c in self.logical.columns.values()}
        changed = [c for c in self.columns if c not in kept]
        if changed:
            raise MigrationInvalid(
                f"{where}: column(s) {', '.join(changed)} of constraint {self.op.from_!r} are "
                "changed or dropped by another operation of this migration",
                "rename the constraint in a migration of its own",
            )

    def after_swap(self, ctx: PhaseContext) -> list[PlannedStep]:
        """After the swap: a constraint created by this migration under a temporary name has
        its name by then (earlier operation, earlier step)."""
        return [
            rename_step(
                ctx, self.logical.physical, self.op.from_, self.op.to, f"{self.op.to}:rename"
            )
        ]
