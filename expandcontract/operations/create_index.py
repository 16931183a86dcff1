"""create_index: built CONCURRENTLY during expand (no write lock); an INVALID leftover of a
failed build is dropped and rebuilt by the runner.

Keys are columns or single checked expressions, with operator class (and its parameters),
collation and ordering; INCLUDE, NULLS NOT DISTINCT and storage parameters (an allowlist per
access method). An index replacing one that ``drop_index`` drops in the same migration is built
under a temporary name and takes its name at contract, after the old one is gone: until then
the old version keeps the index it had, and a rollback leaves it untouched.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import psycopg
from psycopg import sql

from expandcontract.operations.base import (
    CATALOG,
    NONBLOCKING_LOCK_TIMEOUT_MS,
    SCAN,
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
from expandcontract.operations.ddl import drop_index_concurrently, object_name
from expandcontract.operations.expressions import (
    check_expression,
    expression_sql,
    rename_columns,
)
from expandcontract.operations.index_parts import (
    INCLUDE_METHODS,
    METHODS,
    IndexElement,
    Scalar,
    name_list,
    storage_parameters,
    storage_sql,
)
from expandcontract.operations.probes import PROBE_TABLE, probe_table, try_ddl
from expandcontract.operations.state import VersionState


@dataclasses.dataclass
class CreateIndex(Operation):
    kind: ClassVar[str] = "create_index"

    name: str
    table: str
    columns: list[IndexElement]
    unique: bool = False
    where: str | None = None
    method: str | None = None
    include: list[str] = dataclasses.field(default_factory=list)
    nulls_not_distinct: bool = False
    storage_parameters: dict[str, Scalar] = dataclasses.field(default_factory=dict)

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> CreateIndex:
        name = identifier(data, "name", where, what="index name")
        table = identifier(data, "table", where, what="table name")
        raw = data["columns"]
        if not isinstance(raw, list) or not raw:
            raise MigrationInvalid(f"{where}: columns must be a non-empty list of column names")
        columns = [IndexElement.parse(c, f"{where}.columns[{i}]") for i, c in enumerate(raw)]
        method = text(data, "method", where, required=False)
        if method is not None and method not in METHODS:
            raise MigrationInvalid(f"{where}: unknown index method {method!r}")
        am = method or "btree"
        op = cls(
            name,
            table,
            columns,
            bool(flag(data, "unique", where, False)),
            check_expression(text(data, "where", where, required=False), what=f"{where}: where"),
            method,
            name_list(data.get("include"), where, "include", empty=True),
            bool(flag(data, "nulls_not_distinct", where, False)),
            storage_parameters(data.get("storage_parameters"), am, where),
        )
        if op.unique and am != "btree":
            raise MigrationInvalid(f"{where}: only btree indexes can be unique")
        if op.nulls_not_distinct and not op.unique:
            raise MigrationInvalid(f"{where}: nulls_not_distinct needs unique: true")
        if op.include and am not in INCLUDE_METHODS:
            raise MigrationInvalid(
                f"{where}: {am} indexes have no INCLUDE", f"INCLUDE works with {INCLUDE_METHODS}"
            )
        if am != "btree" and any(c.sort or c.nulls for c in columns):
            raise MigrationInvalid(f"{where}: only btree indexes have sort and nulls ordering")
        return op

    def apply(self, state: VersionState, *, where: str) -> Resolved:
        table = state.table(self.table, where)
        names = {c.name: c.physical for c in table.columns.values()}
        for element in self.columns:
            if element.column is not None:
                state.column(table, element.column, where)
        for name in self.include:
            state.column(table, name, where)
        if self.nulls_not_distinct and state.physical.server_version < 150000:
            raise MigrationInvalid(f"{where}: nulls_not_distinct needs PostgreSQL 15 or later")
        replaces = self.name in state.dropped_indexes
        state.new_relation_name_free(self.name, where, "index")
        build = self.name
        if replaces:  # the old index of that name lives until contract
            build = object_name("_ec_repl", self.name, suffix="idx")
            state.claim_relation_name(build, table.physical, where)
        state.created_indexes[self.name] = table.physical
        physical_where = None
        if self.where:
            physical_where = rename_columns(self.where, names, where=where)
        return _Built(self, table.physical, names, physical_where, build)


@dataclasses.dataclass(frozen=True)
class _Built(Resolved):
    op: CreateIndex
    table: str  # physical
    names: dict[str, str]  # the new version's column names -> physical
    where: str | None  # in physical names
    build: str  # the name it is built under: its own, or a temporary one it leaves at contract

    def expressions(self, ctx: PhaseContext) -> list[Expression]:
        out = [
            Expression(f"columns[{i}]", e.expression, "text", "new", self.table)
            for i, e in enumerate(self.op.columns)
            if e.expression is not None
        ]
        if self.op.where:
            out.append(Expression("where", self.op.where, "boolean", "new", self.table))
        return out

    def probe(self, conn: psycopg.Connection[Any], ctx: PhaseContext, where: str) -> None:
        """Operator classes and collations exist (for this access method), then the whole
        index builds on an empty temporary copy of the table (rolled back)."""
        method = self.op.method or "btree"
        for element in self.op.columns:
            if element.opclass:
                row = conn.execute(
                    "SELECT count(*) FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod"
                    " JOIN pg_namespace n ON n.oid = oc.opcnamespace"
                    " WHERE oc.opcname = %s AND am.amname = %s"
                    " AND (%s::text IS NULL AND pg_opclass_is_visible(oc.oid) OR n.nspname = %s)",
                    (
                        element.opclass[-1],
                        method,
                        _schema(element.opclass),
                        _schema(element.opclass),
                    ),
                ).fetchone()
                if not row or not row[0]:
                    raise MigrationInvalid(
                        f"{where}: operator class {'.'.join(element.opclass)!r} does not exist "
                        f"for {method} indexes"
                    )
            if element.collate:
                row = conn.execute(
                    "SELECT to_regcollation(%s)",
                    (sql.Identifier(*element.collate).as_string(conn),),
                ).fetchone()
                if not row or row[0] is None:
                    raise MigrationInvalid(
                        f"{where}: collation {'.'.join(element.collate)!r} does not exist"
                    )
        # Then the index itself, built by PostgreSQL on an empty temporary copy of the table.
        table = probe_table(ctx, self.table)
        if table is None:
            return
        index = self._statement(
            sql.Identifier("_ec_probe_index"), sql.Identifier(PROBE_TABLE), concurrently=False
        )
        try_ddl(conn, [*table, index], where=where, what=f"index {self.op.name}")

    def _statement(
        self, name: sql.Composable, table: sql.Composable, *, concurrently: bool
    ) -> sql.Composed:
        op, names = self.op, self.names

        def expression(text: str) -> str:
            return rename_columns(text, names, where=f"index {op.name}")

        elements = sql.SQL(", ").join(
            e.render(lambda c: names.get(c, c), expression) for e in op.columns
        )
        clauses: list[sql.Composable] = []
        if op.include:
            clauses.append(
                sql.SQL(" INCLUDE ({})").format(
                    sql.SQL(", ").join(sql.Identifier(names.get(c, c)) for c in op.include)
                )
            )
        if op.nulls_not_distinct:
            clauses.append(sql.SQL(" NULLS NOT DISTINCT"))
        clauses.append(storage_sql(op.storage_parameters))
        if self.where:
            clauses.append(sql.SQL(" WHERE {}").format(expression_sql(self.where)))
        return sql.SQL("CREATE {}INDEX {}{} ON {}{} ({}){}").format(
            sql.SQL("UNIQUE " if op.unique else ""),
            sql.SQL("CONCURRENTLY IF NOT EXISTS " if concurrently else ""),
            name,
            table,
            sql.SQL(" USING {}").format(sql.SQL(op.method)) if op.method else sql.SQL(""),
            elements,
            sql.Composed(clauses),
        )

    def expand(self, ctx: PhaseContext) -> list[PlannedStep]:
        op = self.op
        statement = self._statement(
            sql.Identifier(self.build), ctx.table_ref(self.table), concurrently=True
        )
        return [
            PlannedStep(
                "build",
                f"build index {self.build} CONCURRENTLY"
                + (f" (takes the name {op.name} at contract)" if self.build != op.name else ""),
                (statement,),
                "SHARE UPDATE EXCLUSIVE",
                SCAN,
                lock_timeout_ms=NONBLOCKING_LOCK_TIMEOUT_MS,
                transactional=False,
                creates_index=(ctx.schema, self.build),
                statement_timeout_ms=0,
                stage="indexes",
            )
        ]

    def contract(self, ctx: PhaseContext) -> list[PlannedStep]:
        """After drop_index (earlier in the migration, so earlier in contract) dropped the old
        index: the new one takes its name."""
        if self.build == self.op.name:
            return []
        return [
            PlannedStep(
                "take-name",
                f"index {self.build} takes the name {self.op.name}",
                (
                    sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                        sql.Identifier(ctx.schema, self.build), sql.Identifier(self.op.name)
                    ),
                ),
                "SHARE UPDATE EXCLUSIVE (index)",
                CATALOG,
            )
        ]

    def rollback(self, ctx: PhaseContext) -> list[PlannedStep]:
        return [drop_index_concurrently(ctx.schema, self.build)]


def _schema(name: tuple[str, ...]) -> str | None:
    return name[0] if len(name) == 2 else None
