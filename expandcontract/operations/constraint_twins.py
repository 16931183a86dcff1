"""The columns create_constraint and drop_constraint duplicate when given up/down: same type,
same nullability, kept in sync by the triggers (duplicate.py), the default restored on the
final column after the swap."""

from __future__ import annotations

import dataclasses

from psycopg import sql

from expandcontract.operations.base import (
    CATALOG,
    DualWrite,
    Expression,
    MigrationInvalid,
    PlannedStep,
)
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.duplicate import DuplicatedColumn
from expandcontract.operations.expressions import expression_sql
from expandcontract.operations.state import LogicalTable, VersionState


@dataclasses.dataclass(frozen=True)
class Twin:
    column: DuplicatedColumn
    up: str  # old-version names
    down: str  # new-version names


@dataclasses.dataclass(frozen=True)
class Twins:
    items: list[Twin]

    @classmethod
    def create(
        cls,
        state: VersionState,
        table: LogicalTable,
        columns: list[str],
        up: dict[str, str],
        down: dict[str, str],
        *,
        not_null: bool,
        op: str,
        where: str,
    ) -> Twins:
        """Duplicate ``columns`` (logical names); a missing up/down is the column itself."""
        items = []
        physical = state.physical.tables[table.physical]
        for name in columns:
            column = table.columns[name]
            if column.origin != "existing":
                raise MigrationInvalid(
                    f"{where}: column {name!r} is added or changed earlier in this migration: "
                    "up/down apply to existing columns only",
                    "leave out up/down (the constraint then goes on the column itself)",
                )
            source = physical.columns[column.physical]
            if source.identity or source.generated:
                raise MigrationInvalid(
                    f"{where}: {name!r} is an identity or generated column, which ec cannot "
                    "duplicate yet",
                    "leave out up/down",
                )
            twin = DuplicatedColumn.create(
                state,
                table,
                column,
                type_=column.type,
                nullable=column.nullable and not not_null,
                op=op,
                where=where,
            )
            plain = sql.Identifier(name).as_string(None)
            items.append(Twin(twin, up.get(name, plain), down.get(name, plain)))
        return cls(items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def expressions(self, ctx: PhaseContext) -> list[Expression]:
        out = []
        for t in self.items:
            name, table = t.column.twin.name, t.column.table
            out.append(Expression(f"up.{name}", t.up, t.column.twin.type, "old", table))
            out.append(Expression(f"down.{name}", t.down, t.column.old_type(ctx), "new", table))
        return out

    def expand(self, ctx: PhaseContext) -> list[PlannedStep]:
        return [s for t in self.items for s in t.column.expand(ctx)]

    def dual_writes(self) -> list[DualWrite]:
        return [w for t in self.items for w in t.column.dual_writes(t.up, t.down)]

    def contract(self, ctx: PhaseContext) -> list[PlannedStep]:
        return [s for t in self.items for s in t.column.contract(ctx)]

    def after_swap(self, ctx: PhaseContext) -> list[PlannedStep]:
        """The twin took the column's name; it takes its default too (a serial's nextval)."""
        steps = [s for t in self.items for s in t.column.after_swap(ctx)]
        for t in self.items:
            column = t.column.twin
            if column.default is None:
                continue
            steps.append(
                PlannedStep(
                    f"default:{column.name}",
                    f"default of {t.column.table}.{column.name}",
                    (
                        sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT ({})").format(
                            ctx.table_ref(t.column.table),
                            sql.Identifier(column.name),
                            expression_sql(column.default),
                        ),
                    ),
                    "ACCESS EXCLUSIVE",
                    CATALOG,
                )
            )
        return steps

    def rollback(self, ctx: PhaseContext) -> list[PlannedStep]:
        return [s for t in self.items for s in t.column.rollback(ctx)]
