"""drop_constraint: the new version stops being bound by a constraint.

With ``up``/``down`` (pgroll's drop_multicolumn_constraint) the constraint's columns are
duplicated without it: the new version writes unconstrained twins at once, ``down`` maps its
writes to values the old version's (still constrained) columns accept, and the constraint goes
with the old columns at the swap. Without them (catalog-only) the constraint keeps binding both
versions until contract drops it.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any, ClassVar

import psycopg

from expandcontract.operations import constraint_names
from expandcontract.operations.base import (
    DualWrite,
    Expression,
    MigrationInvalid,
    Operation,
    PlannedStep,
    Resolved,
    identifier,
)
from expandcontract.operations.constraint_names import KIND_WORDS
from expandcontract.operations.constraint_twins import Twins
from expandcontract.operations.constraints import drop_step
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.create_constraint import column_expressions
from expandcontract.operations.duplicate import DuplicatedColumn
from expandcontract.operations.state import LogicalTable, VersionState

if TYPE_CHECKING:
    from expandcontract.verify.mapping import VersionMap


@dataclasses.dataclass
class DropConstraint(Operation):
    kind: ClassVar[str] = "drop_constraint"

    table: str
    name: str
    # Raw until apply(): a bare string is allowed when the constraint has one column.
    up: Any = None
    down: Any = None
    _up: dict[str, str] = dataclasses.field(default_factory=dict)
    _down: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> DropConstraint:
        op = cls(
            identifier(data, "table", where, what="table name"),
            identifier(data, "name", where, what="constraint name"),
            data.get("up"),
            data.get("down"),
        )
        for key in ("up", "down"):  # shape and expressions checked before anything runs
            value = data.get(key)
            if isinstance(value, dict):
                column_expressions(value, [str(k) for k in value], where, key)
            elif value is not None:
                column_expressions(value, ["column"], where, key)
        return op

    def apply(self, state: VersionState, *, where: str) -> Resolved:
        table = state.table(self.table, where)
        registry = constraint_names.names(state)
        known = registry.find(table, self.name, where)
        word = KIND_WORDS[known.kind]
        if known.origin == "created":
            raise MigrationInvalid(
                f"{where}: constraint {self.name!r} is created earlier in this migration",
                "remove the create_constraint instead",
            )
        if known.renamed_from is not None:
            raise MigrationInvalid(
                f"{where}: constraint {self.name!r} is renamed earlier in this migration "
                f"(from {known.renamed_from!r})",
                "drop it by its old name instead of renaming it",
            )
        if known.kind == "n":
            raise MigrationInvalid(
                f"{where}: {self.name!r} is a NOT NULL constraint",
                "use alter_column with nullable: true",
            )
        if known.kind in ("p", "u"):
            _refuse_referenced(state, table, self.name, known.columns, where)
        by_physical = {c.physical: c for c in table.columns.values()}
        columns = [by_physical[c].name for c in known.columns if c in by_physical]
        twins = Twins([])
        if self.up is not None or self.down is not None:
            if known.kind not in ("c", "f", "u"):
                raise MigrationInvalid(
                    f"{where}: up/down are for check, foreign key and unique constraints; "
                    f"{self.name!r} is a {word} constraint",
                    "leave out up/down: the constraint is then dropped at contract",
                )
            self._up = column_expressions(self.up, columns, where, "up")
            self._down = column_expressions(self.down, columns, where, "down")
            twins = Twins.create(
                state, table, columns, self._up, self._down,
                not_null=False, op=self.kind, where=where,
            )  # fmt: skip
            for twin in twins.items:
                _without(state, twin.column, self.name)
        registry.remove(table, self.name)
        return _Dropped(self, table, list(known.columns), twins)

    def link(self, versions: VersionMap) -> None:
        # The mapping form names its columns; a bare expression is known once applied.
        up = self.up if isinstance(self.up, dict) else self._up
        down = self.down if isinstance(self.down, dict) else self._down
        if link := versions.by_new(self.table):
            link.columns = [
                dataclasses.replace(c, up=up.get(c.new, c.up), down=down.get(c.new, c.down))
                if c.new in up or c.new in down
                else c
                for c in link.columns
            ]


def _without(state: VersionState, twin: DuplicatedColumn, name: str) -> None:
    """The twin gets every object of its column except the dropped constraint (and the
    index backing it)."""
    physical = state.physical.tables[twin.table]
    con = physical.constraints[name]
    objects = twin.objects
    objects.constraints = [c for c in objects.constraints if c.name != name]
    objects.indexes = [i for i in objects.indexes if i.name != con.index]


def _refuse_referenced(
    state: VersionState, table: LogicalTable, name: str, columns: list[str], where: str
) -> None:
    """A foreign key needs the unique index behind a primary key or unique constraint:
    DROP CONSTRAINT would fail at contract."""
    pattern = re.compile(rf'REFERENCES\s+(?:\S+\.)?"?{re.escape(table.physical)}"?\s*\(([^)]*)\)')
    for other in state.physical.tables.values():
        for con in other.constraints.values():
            found = pattern.search(con.definition) if con.kind == "f" else None
            referenced = (
                {c.strip().strip('"') for c in found.group(1).split(",")} if found else None
            )
            if referenced == set(columns):
                raise MigrationInvalid(
                    f"{where}: foreign key {con.name!r} of {other.name!r} depends on {name!r}",
                    "drop that foreign key first",
                )


@dataclasses.dataclass(frozen=True)
class _Dropped(Resolved):
    op: DropConstraint
    logical: LogicalTable
    columns: list[str]  # physical columns of the constraint
    twins: Twins

    def expressions(self, ctx: PhaseContext) -> list[Expression]:
        return self.twins.expressions(ctx)

    def probe(self, conn: psycopg.Connection[Any], ctx: PhaseContext, where: str) -> None:
        """Catalog-only drop: a column of the constraint that another operation duplicates
        would carry a copy of it, which takes the name back after the swap."""
        if self.twins:
            return
        kept = {c.physical for c in self.logical.columns.values()}
        changed = [c for c in self.columns if c not in kept]
        if changed:
            raise MigrationInvalid(
                f"{where}: column(s) {', '.join(changed)} of constraint {self.op.name!r} are "
                "changed or dropped by another operation of this migration",
                "give up/down here (the constraint is then left off the new column), or drop "
                "the constraint in a migration of its own",
            )

    def expand(self, ctx: PhaseContext) -> list[PlannedStep]:
        return self.twins.expand(ctx)

    def dual_writes(self, ctx: PhaseContext) -> list[DualWrite]:
        return self.twins.dual_writes()

    def contract(self, ctx: PhaseContext) -> list[PlannedStep]:
        if not self.twins:
            return [drop_step(ctx, self.logical.physical, self.op.name)]
        return self.twins.contract(ctx)

    def after_swap(self, ctx: PhaseContext) -> list[PlannedStep]:
        return self.twins.after_swap(ctx)

    def rollback(self, ctx: PhaseContext) -> list[PlannedStep]:
        return self.twins.rollback(ctx)
