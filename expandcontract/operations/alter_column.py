"""alter_column: change type, nullability and/or default.

A default-only change needs no data movement (the new version's view gets the new default;
contract sets it on the table). A type or nullability change duplicates the column behind
triggers (duplicate.py): old writes -> ``up``, new writes -> ``down``, backfilled, swapped in
at contract.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from psycopg import sql

from expandcontract.operations.base import (
    CATALOG,
    DualWrite,
    Expression,
    MigrationInvalid,
    Operation,
    PlannedStep,
    Resolved,
    flag,
    identifier,
    text,
)
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.duplicate import DuplicatedColumn
from expandcontract.operations.expressions import check_expression, check_type, expression_sql
from expandcontract.operations.state import LogicalColumn, VersionState

if TYPE_CHECKING:
    from expandcontract.verify.mapping import VersionMap

_UNSET = object()


@dataclasses.dataclass
class AlterColumn(Operation):
    kind: ClassVar[str] = "alter_column"
    table: str
    column: str
    type: str | None = None
    nullable: bool | None = None
    default: Any = _UNSET  # a SQL expression, None to drop the default, _UNSET to keep it
    up: str | None = None
    down: str | None = None

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> AlterColumn:
        table = identifier(data, "table", where, what="table name")
        column = identifier(data, "column", where, what="column name")
        assert table is not None and column is not None
        op = cls(
            table,
            column,
            type=text(data, "type", where, required=False),
            nullable=flag(data, "nullable", where),
            up=text(data, "up", where, required=False),
            down=text(data, "down", where, required=False),
        )
        if "default" in data:
            op.default = None if data["default"] is None else text(data, "default", where)
        check_type(op.type, what=f"{where}: type")
        for key, value in (("up", op.up), ("down", op.down), ("default", op.default)):
            check_expression(value if isinstance(value, str) else None, what=f"{where}: {key}")
        if op.type is None and op.nullable is None and op.default is _UNSET:
            raise MigrationInvalid(f"{where}: alter_column needs type, nullable or default")
        return op

    def apply(self, state: VersionState, *, where: str) -> Resolved:
        table = state.table(self.table, where)
        column = state.column(table, self.column, where)
        if column.origin != "existing":
            raise MigrationInvalid(
                f"{where}: column {self.column!r} is added or changed earlier in this migration",
                "fold this change into that operation",
            )
        physical = state.physical.tables[table.physical]
        new_type = self.type if self.type is not None else column.type
        type_changes = self.type is not None and self.type != column.type
        null_changes = self.nullable is not None and self.nullable != column.nullable
        if self.default is not _UNSET:
            column.default = self.default
        if not (type_changes or null_changes):  # default-only: nothing to move
            return _Altered(self, table.physical, column, None)
        source = physical.columns[column.physical]
        if source.identity or source.generated:
            raise MigrationInvalid(
                f"{where}: changing the type or nullability of identity or generated column "
                f"{self.column!r} is not supported yet"
            )
        if column.physical in physical.primary_key:
            raise MigrationInvalid(
                f"{where}: changing the type or nullability of primary key column "
                f"{self.column!r} is not supported yet"
            )
        if self.up is None:
            raise MigrationInvalid(
                f"{where}: changing {self.table}.{self.column} moves data, so it needs `up`: "
                "the new value computed from the old version's columns",
                f"e.g. up: \"{self.column}::{new_type}\"" if type_changes else
                f"e.g. up: \"coalesce({self.column}, <value>)\"",
            )  # fmt: skip
        old_accepts_new_values = not type_changes and (self.nullable is False or column.nullable)
        if self.down is None and not old_accepts_new_values:
            raise MigrationInvalid(
                f"{where}: {self.table}.{self.column} needs `down`: the value the old version "
                "sees for rows the new version writes",
                "names in down refer to the new version's columns",
            )
        twin = DuplicatedColumn.create(
            state,
            table,
            column,
            type_=new_type,
            nullable=column.nullable if self.nullable is None else self.nullable,
            op="alter_column",
            where=where,
        )
        return _Altered(self, table.physical, twin.twin, twin)

    def link(self, versions: VersionMap) -> None:
        if link := versions.by_new(self.table):
            link.columns = [
                dataclasses.replace(c, up=self.up or c.up, down=self.down or c.down)
                if c.new == self.column
                else c
                for c in link.columns
            ]


@dataclasses.dataclass(frozen=True)
class _Altered(Resolved):
    op: AlterColumn
    table: str  # physical
    column: LogicalColumn  # the new version's column
    twin: DuplicatedColumn | None  # None: a default-only change

    def types(self) -> list[str]:
        return [self.op.type] if self.op.type else []

    def _down(self) -> str:
        # Without an explicit down the new value fits the old column as it is.
        down = self.op.down
        return down if down is not None else sql.Identifier(self.op.column).as_string(None)

    def expressions(self, ctx: PhaseContext) -> list[Expression]:
        out = []
        if self.twin is not None:
            assert self.op.up is not None
            out.append(Expression("up", self.op.up, self.column.type, "old", self.table))
            out.append(Expression("down", self._down(), self.twin.old_type(ctx), "new", self.table))
        if isinstance(self.op.default, str):
            out.append(Expression("default", self.op.default, self.column.type))
        return out

    def expand(self, ctx: PhaseContext) -> list[PlannedStep]:
        return self.twin.expand(ctx) if self.twin else []

    def dual_writes(self, ctx: PhaseContext) -> list[DualWrite]:
        if self.twin is None:
            return []
        assert self.op.up is not None
        return self.twin.dual_writes(self.op.up, self._down())

    def contract(self, ctx: PhaseContext) -> list[PlannedStep]:
        return self.twin.contract(ctx) if self.twin else []

    def after_swap(self, ctx: PhaseContext) -> list[PlannedStep]:
        """After the old column is dropped and the twin renamed: the twin's objects take their
        names, and the default is set (table renames come later, so the physical name holds)."""
        steps = self.twin.after_swap(ctx) if self.twin else []
        if self.op.default is not _UNSET or self.twin is not None:
            default = self.column.default
            action = (
                sql.SQL("SET DEFAULT ({})").format(expression_sql(default))
                if default is not None
                else sql.SQL("DROP DEFAULT")
            )
            steps.append(
                PlannedStep(
                    f"default:{self.column.name}",
                    f"default of {self.table}.{self.column.name}",
                    (
                        sql.SQL("ALTER TABLE {} ALTER COLUMN {} {}").format(
                            ctx.table_ref(self.table), sql.Identifier(self.column.name), action
                        ),
                    ),
                    "ACCESS EXCLUSIVE",
                    CATALOG,
                )
            )
        return steps

    def rollback(self, ctx: PhaseContext) -> list[PlannedStep]:
        return self.twin.rollback(ctx) if self.twin else []
