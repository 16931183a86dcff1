"""create_table: a new, empty table, so every constraint can be created directly, in one
CREATE TABLE (comments in the same transaction). Column and table constraints keep the names
the migration gives them; ``serial`` types are PostgreSQL's shorthand."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

import psycopg
from psycopg import sql

from expandcontract.operations.base import (
    CATALOG,
    Expression,
    MigrationInvalid,
    Operation,
    PlannedStep,
    Resolved,
    identifier,
)
from expandcontract.operations.columns import SERIAL, ColumnSpec
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.expressions import expression_sql, type_sql
from expandcontract.operations.probes import PROBE_TABLE, try_ddl
from expandcontract.operations.state import LogicalColumn, LogicalTable, VersionState
from expandcontract.operations.table_constraints import INDEXED, TableConstraint

if TYPE_CHECKING:
    from expandcontract.verify.mapping import VersionMap

# Rendered as keywords, never from user text.
_SERIAL_SQL = {"smallint": "smallserial", "integer": "serial", "bigint": "bigserial"}


@dataclasses.dataclass
class CreateTable(Operation):
    kind: ClassVar[str] = "create_table"
    name: str
    columns: list[ColumnSpec]
    constraints: list[TableConstraint] = dataclasses.field(default_factory=list)
    comment: str | None = None

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> CreateTable:
        table = identifier(data, "name", where, what="table name")
        raw = data["columns"]
        if not isinstance(raw, list) or not raw:
            raise MigrationInvalid(f"{where}: columns must be a non-empty list")
        columns = [
            ColumnSpec.parse(c, f"{where}.columns[{i}]", serial=True) for i, c in enumerate(raw)
        ]
        names = [c.name for c in columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise MigrationInvalid(f"{where}: duplicate column(s) {', '.join(duplicates)}")
        listed = data.get("constraints") or []
        if not isinstance(listed, list):
            raise MigrationInvalid(f"{where}: constraints must be a list")
        constraints = [
            TableConstraint.parse(c, f"{where}.constraints[{i}]") for i, c in enumerate(listed)
        ]
        comment = data.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise MigrationInvalid(f"{where}: comment must be text, got {comment!r}")
        op = cls(table, columns, constraints, comment)
        op._check_constraints(where)
        return op

    def _check_constraints(self, where: str) -> None:
        columns = {c.name for c in self.columns}
        for i, con in enumerate(self.constraints):
            unknown = [c for c in con.used_columns() if c not in columns]
            if unknown:
                raise MigrationInvalid(
                    f"{where}.constraints[{i}]: column(s) {', '.join(unknown)} are not columns "
                    f"of {self.name!r}"
                )
        primary = [c.name for c in self.constraints if c.type == "primary_key"]
        if len(primary) + (1 if any(c.primary_key for c in self.columns) else 0) > 1:
            raise MigrationInvalid(
                f"{where}: {self.name!r} has more than one primary key",
                "use either primary_key: true on columns or one primary_key constraint",
            )
        given = [c.name for c in self.constraints]
        given += [
            n
            for c in self.columns
            for n in (getattr(c.check, "name", None), getattr(c.references, "name", None))
            if n
        ]
        twice = sorted({n for n in given if given.count(n) > 1})
        if twice:
            raise MigrationInvalid(f"{where}: constraint name(s) used twice: {', '.join(twice)}")

    def apply(self, state: VersionState, *, where: str) -> Resolved:
        if self.name in state.dropped_tables:
            raise MigrationInvalid(
                f"{where}: table {self.name!r} is dropped earlier in this migration; the old "
                "version keeps using it until contract, so a new table cannot take its name yet",
                "create the new table in the next migration, or under another name and "
                "rename_table it after this migration completes",
            )
        state.new_relation_name_free(self.name, where, "table")
        for con in self.constraints:
            if con.type in INDEXED:  # its index takes the constraint's name
                state.new_relation_name_free(con.name, where, f"{con.type} constraint")
                state.created_indexes[con.name] = self.name
        keyed = {c for con in self.constraints if con.type == "primary_key" for c in con.columns}
        state.tables[self.name] = LogicalTable(
            self.name,
            self.name,
            {
                c.name: LogicalColumn(
                    c.name,
                    c.name,
                    c.base_type,
                    c.nullable and c.name not in keyed,
                    c.default,
                    "a" if c.identity else "",
                    "created",
                )
                for c in self.columns
            },
            origin="created",
        )
        return _Created(self)

    def link(self, versions: VersionMap) -> None:
        versions.created.add(self.name)


@dataclasses.dataclass(frozen=True)
class _Created(Resolved):
    op: CreateTable

    def types(self) -> list[str]:
        return [c.base_type for c in self.op.columns]

    def references(self) -> list[tuple[str, str]]:
        out = [(c.name, str(c.references)) for c in self.op.columns if c.references]
        out += [(con.name, ref) for con in self.op.constraints for ref in con.references()]
        return out

    def expressions(self, ctx: PhaseContext) -> list[Expression]:
        out = []
        table = self.op.name
        for column in self.op.columns:
            if column.default is not None:
                out.append(Expression("default", column.default, column.base_type))
            if column.check:
                out.append(Expression("check", column.check, "boolean", "new", table))
        for con in self.op.constraints:
            label = f"constraint {con.name}"
            if con.check is not None:
                out.append(Expression(label, con.check, "boolean", "new", table))
            if con.where is not None:
                out.append(Expression(f"{label}: where", con.where, "boolean", "new", table))
            for e in con.elements:
                if e.expression is not None:  # any type casts to text: checks reads and shape
                    out.append(Expression(f"{label}: element", e.expression, "text", "new", table))
        return out

    def probe(self, conn: psycopg.Connection[Any], ctx: PhaseContext, where: str) -> None:
        """PostgreSQL creates the table, empty and temporary, in a rolled-back transaction:
        operator classes, exclusion operators, storage parameters are checked by it. Foreign
        keys are left out (a temporary table cannot reference a permanent one); their targets
        are checked by ``references``."""
        if any(c.type == "unique" and c.nulls_not_distinct for c in self.op.constraints) and (
            ctx.physical.server_version < 150000
        ):
            raise MigrationInvalid(f"{where}: nulls_not_distinct needs PostgreSQL 15 or later")
        items = [self._column_sql(ctx, c, foreign_keys=False) for c in self.op.columns]
        items += self._keys(ctx, foreign_keys=False)
        statement = sql.SQL("CREATE TEMP TABLE {} ({})").format(
            sql.Identifier(PROBE_TABLE), sql.SQL(", ").join(items)
        )
        try_ddl(conn, [statement], where=where, what=f"table {self.op.name}")

    def _keys(self, ctx: PhaseContext, *, foreign_keys: bool = True) -> list[sql.Composed]:
        primary = [sql.Identifier(c.name) for c in self.op.columns if c.primary_key]
        items: list[sql.Composed] = []
        if primary:
            items.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(primary)))
        items += [
            con.render(ctx, lambda name: _physical(ctx, name))
            for con in self.op.constraints
            if foreign_keys or con.type != "foreign_key"
        ]
        return items

    def _column_sql(
        self, ctx: PhaseContext, column: ColumnSpec, *, foreign_keys: bool = True
    ) -> sql.Composed:
        if column.serial:
            typ: sql.Composable = sql.SQL(_SERIAL_SQL[SERIAL[column.type.lower()]])
        else:
            typ = type_sql(column.type)
        parts: list[sql.Composable] = [sql.Identifier(column.name), typ]
        if column.identity:
            parts.append(sql.SQL("GENERATED BY DEFAULT AS IDENTITY"))
        if column.default is not None:
            parts.append(sql.SQL("DEFAULT ({})").format(expression_sql(column.default)))
        if not column.nullable:
            parts.append(sql.SQL("NOT NULL"))
        if column.unique:
            parts.append(sql.SQL("UNIQUE"))
        if column.check:
            if column.check.name:
                parts.append(sql.SQL("CONSTRAINT {}").format(sql.Identifier(column.check.name)))
            parts.append(sql.SQL("CHECK ({})").format(expression_sql(column.check)))
            if column.check.no_inherit:
                parts.append(sql.SQL("NO INHERIT"))
        if column.references and foreign_keys:
            if column.references.name:
                parts.append(
                    sql.SQL("CONSTRAINT {}").format(sql.Identifier(column.references.name))
                )
            parts.append(
                sql.SQL("REFERENCES {}{}").format(
                    ctx.reference(column.references), column.references.options.clause()
                )
            )
        return sql.SQL(" ").join(parts)

    def expand(self, ctx: PhaseContext) -> list[PlannedStep]:
        items = [self._column_sql(ctx, c) for c in self.op.columns]
        items += self._keys(ctx)
        ref = ctx.table_ref(self.op.name)
        statements = [sql.SQL("CREATE TABLE {} ({})").format(ref, sql.SQL(", ").join(items))]
        if self.op.comment is not None:
            statements.append(
                sql.SQL("COMMENT ON TABLE {} IS {}").format(ref, sql.Literal(self.op.comment))
            )
        statements += [
            sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(
                ref, sql.Identifier(c.name), sql.Literal(c.comment)
            )
            for c in self.op.columns
            if c.comment is not None
        ]
        return [
            PlannedStep(
                "create",
                f"create table {self.op.name}",
                tuple(statements),
                "ACCESS EXCLUSIVE (new table)",
                CATALOG,
            )
        ]

    def rollback(self, ctx: PhaseContext) -> list[PlannedStep]:
        return [
            PlannedStep(
                "drop",
                f"drop created table {self.op.name}",
                (sql.SQL("DROP TABLE IF EXISTS {}").format(ctx.table_ref(self.op.name)),),
                "ACCESS EXCLUSIVE",
                CATALOG,
            )
        ]


def _physical(ctx: PhaseContext, name: str) -> str:
    """A referenced table: the physical name of the new version's table of that name."""
    table = ctx.state.tables.get(name)
    return table.physical if table is not None else name
