"""add_column: a new column, filled for existing rows and for the old version's writes by ``up``.

Expand adds it nullable (NOT NULL becomes a CHECK … NOT VALID); a non-volatile default is
added with the column (catalog-only since PG 11), a volatile one is set afterwards so the table
is never rewritten, and the backfill fills existing rows. Contract validates and SETs NOT NULL.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

import psycopg
from psycopg import sql

from expandcontract.operations import ddl
from expandcontract.operations.base import (
    CATALOG,
    DualWrite,
    Expression,
    MigrationInvalid,
    Operation,
    PlannedStep,
    Resolved,
    identifier,
    text,
)
from expandcontract.operations.columns import ColumnSpec
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.expressions import check_expression, expression_sql, type_sql
from expandcontract.operations.state import PREFIX, LogicalColumn, VersionState

if TYPE_CHECKING:
    from expandcontract.verify.mapping import VersionMap


@dataclasses.dataclass
class AddColumn(Operation):
    kind: ClassVar[str] = "add_column"

    table: str
    column: ColumnSpec
    up: str | None = None

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> AddColumn:
        table = identifier(data, "table", where, what="table name")
        assert table is not None
        column = ColumnSpec.parse(data["column"], f"{where}.column")
        if column.primary_key or column.identity:
            raise MigrationInvalid(
                f"{where}: add_column cannot add a primary key or identity column to an "
                "existing table",
                "add a plain column, backfill it, then create a unique index and constraint",
            )
        up = text(data, "up", where, required=False)
        check_expression(up, what=f"{where}: up")
        return cls(table, column, up)

    @property
    def fill(self) -> str | None:
        """What existing rows and old-version inserts get: ``up``, else the default."""
        return self.up if self.up is not None else self.column.default

    def apply(self, state: VersionState, *, where: str) -> Resolved:
        table = state.table(self.table, where)
        name = self.column.name
        if name in table.columns:
            raise MigrationInvalid(f"{where}: column {name!r} already exists in {self.table!r}")
        if name.startswith(PREFIX):
            raise MigrationInvalid(f"{where}: names starting with {PREFIX!r} are reserved for ec")
        physical = state.physical.tables.get(table.physical)
        if physical is not None and name in physical.columns:
            raise MigrationInvalid(
                f"{where}: table {table.physical!r} already has a physical column {name!r}"
            )
        if not self.column.nullable and self.fill is None:
            raise MigrationInvalid(
                f"{where}: NOT NULL column {name!r} needs a value for existing rows and for "
                "rows the old version inserts",
                "give it an `up` expression or a default",
            )
        state.claim(table, name, "add_column", where)
        if self.column.unique:
            state.claim_relation_name(
                ddl.object_name(table.physical, name, suffix="key"), table.physical, where
            )
        table.columns[name] = LogicalColumn(
            name, name, self.column.type, self.column.nullable, self.column.default, "", "added"
        )
        if self.up is not None or self.column.default is not None:
            table.needs_backfill = True
        return _Added(self, table.physical)

    def link(self, versions: VersionMap) -> None:
        if link := versions.by_new(self.table):
            link.added[self.column.name] = self.fill
            if self.up is not None:
                link.added_up[self.column.name] = self.up
            versions.added_columns.setdefault(link.old, set()).add(self.column.name)


@dataclasses.dataclass(frozen=True)
class _Added(Resolved):
    op: AddColumn
    table: str  # physical

    @property
    def column(self) -> ColumnSpec:
        return self.op.column

    def types(self) -> list[str]:
        return [self.column.type]

    def references(self) -> list[tuple[str, str]]:
        return [(self.column.name, self.column.references)] if self.column.references else []

    def expressions(self, ctx: PhaseContext) -> list[Expression]:
        out = []
        if self.op.up is not None:
            out.append(Expression("up", self.op.up, self.column.type, "old", self.table))
        if self.column.default is not None:
            out.append(Expression("default", self.column.default, self.column.type))
        if self.column.check:
            out.append(Expression("check", self.column.check, "boolean", "new", self.table))
        return out

    def probe(self, conn: psycopg.Connection[Any], ctx: PhaseContext, where: str) -> None:
        if self.column.default is not None:
            ctx.fast_defaults[(self.column.type, self.column.default)] = ddl.is_fast_default(
                conn, self.column.type, self.column.default, where
            )

    def expand(self, ctx: PhaseContext) -> list[PlannedStep]:
        table = ctx.table_ref(self.table)
        col = sql.Identifier(self.column.name)
        default = self.column.default
        fast = default is not None and ctx.is_fast_default(self.column.type, default)
        add = sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
            table, col, type_sql(self.column.type)
        )
        if fast:
            add = sql.SQL("{} DEFAULT ({})").format(add, expression_sql(str(default)))
        statements = [add]
        if default is not None and not fast:
            # A volatile default applied to new rows only; existing rows come from the backfill.
            statements.append(
                sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT ({})").format(
                    table, col, expression_sql(default)
                )
            )
        steps = [
            PlannedStep(
                f"add:{self.column.name}",
                f"add column {self.table}.{self.column.name}"
                + ("" if fast or default is None else " (volatile default set without rewrite)"),
                tuple(statements),
                "ACCESS EXCLUSIVE",
                CATALOG,
            )
        ]
        steps += ddl.constraint_steps(ctx, self.table, self.column)
        return steps

    def dual_writes(self, ctx: PhaseContext) -> list[DualWrite]:
        """Rows the old version inserts, rows never computed, and rows whose columns the
        expression reads change (an old-version UPDATE of ``email`` recomputes a derived
        ``email_domain``): the new column follows what it is derived from."""
        fill = self.op.fill
        if fill is None:
            return []
        return [DualWrite(self.table, self.column.name, fill, "up", "always")]

    def contract(self, ctx: PhaseContext) -> list[PlannedStep]:
        return ddl.finish_constraint_steps(ctx, self.table, self.column)

    # No rollback steps: the engine drops the column together with the dual-write trigger
    # that fills it, in one transaction (engine/rollback.py), so no instant leaves one
    # without the other.
