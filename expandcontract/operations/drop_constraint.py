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
from psycopg import sql

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
        if known.kind == "n":
            raise MigrationInvalid(
                f"{where}: {self.name!r} is a NOT NULL constraint",
                "use alter_column with nullable: true",
            )
        if known.kind == "p":
            _refuse_referenced(state, table, self.name, where)
        by_physical = {c.physical: c for c in table.columns.values()}
        columns = [by_physical[c].name for c in known.columns if c in by_physical]
        twins: list[tuple[DuplicatedColumn, str, str]] = []
        if self.up is not None or self.down is not None:
            if known.kind not in ("c", "f", "u"):
                raise MigrationInvalid(
                    f"{where}: up/down are for check, foreign key and unique constraints; "
                    f"{self.name!r} is a {word} constraint",
                    "leave out up/down: the constraint is then dropped at contract",
                )
            self._up = column_expressions(self.up, columns, where, "up")
            self._down = column_expressions(self.down, columns, where, "down")
            for name in columns:
                column = table.columns[name]
                if column.origin != "existing":
                    raise MigrationInvalid(
                        f"{where}: column {name!r} is changed earlier in this migration",
                        "leave out up/down",
                    )
                twin = DuplicatedColumn.create(
                    state, table, column, type_=column.type, nullable=column.nullable,
                    op=self.kind, where=where,
                )  # fmt: skip
                _without(state, twin, self.name)
                plain = sql.Identifier(name).as_string(None)
                twins.append((twin, self._up.get(name, plain), self._down.get(name, plain)))
        registry.remove(table, self.name)
        return _Dropped(self, table, list(known.columns), twins)

    def link(self, versions: VersionMap) -> None:
        if not (self._up or self._down):
            return
        if link := versions.by_new(self.table):
            link.columns = [
                dataclasses.replace(c, up=self._up.get(c.new, c.up), down=self._down.get(c.new))
                if c.new in self._up or c.new in self._down
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


def _refuse_referenced(state: VersionState, table: LogicalTable, name: str, where: str) -> None:
    pattern = re.compile(rf'REFERENCES\s+(?:\S+\.)?"?{re.escape(table.physical)}"?\s*\(')
    for other in state.physical.tables.values():
        for con in other.constraints.values():
            if con.kind == "f" and pattern.search(con.definition):
                raise MigrationInvalid(
                    f"{where}: foreign key {con.name!r} of {other.name!r} depends on {name!r}",
                    "drop that foreign key first",
                )


@dataclasses.dataclass(frozen=True)
class _Dropped(Resolved):
    op: DropConstraint
    logical: LogicalTable
    columns: list[str]  # physical columns of the constraint
    twins: list[tuple[DuplicatedColumn, str, str]]

    def expressions(self, ctx: PhaseContext) -> list[Expression]:
        out = []
        for twin, up, down in self.twins:
            name = twin.twin.name
            out.append(Expression(f"up.{name}", up, twin.twin.type, "old", twin.table))
            out.append(Expression(f"down.{name}", down, twin.old_type(ctx), "new", twin.table))
        return out

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
        return [s for twin, _, _ in self.twins for s in twin.expand(ctx)]

    def dual_writes(self, ctx: PhaseContext) -> list[DualWrite]:
        return [w for twin, up, down in self.twins for w in twin.dual_writes(up, down)]

    def contract(self, ctx: PhaseContext) -> list[PlannedStep]:
        if not self.twins:
            return [drop_step(ctx, self.logical.physical, self.op.name)]
        return [s for twin, _, _ in self.twins for s in twin.contract(ctx)]

    def after_swap(self, ctx: PhaseContext) -> list[PlannedStep]:
        return [s for twin, _, _ in self.twins for s in twin.after_swap(ctx)]

    def rollback(self, ctx: PhaseContext) -> list[PlannedStep]:
        return [s for twin, _, _ in self.twins for s in twin.rollback(ctx)]
