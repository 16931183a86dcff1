"""create_index: built CONCURRENTLY during expand (no write lock); an INVALID leftover of a
failed build is dropped and rebuilt by the runner."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from psycopg import sql

from expandcontract.operations.base import (
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
from expandcontract.operations.ddl import drop_index_concurrently
from expandcontract.operations.expressions import (
    check_expression,
    expression_sql,
    rename_columns,
)
from expandcontract.operations.state import VersionState

# Spliced as SQL keywords: only these words are accepted.
_METHODS = ("btree", "hash", "gist", "gin", "brin", "spgist")


@dataclasses.dataclass
class CreateIndex(Operation):
    kind: ClassVar[str] = "create_index"

    name: str
    table: str
    columns: list[str]
    unique: bool = False
    where: str | None = None
    method: str | None = None

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> CreateIndex:
        name = identifier(data, "name", where, what="index name")
        table = identifier(data, "table", where, what="table name")
        assert name is not None and table is not None
        columns = data["columns"]
        if (
            not isinstance(columns, list)
            or not columns
            or not all(isinstance(c, str) and c.strip() for c in columns)
        ):
            raise MigrationInvalid(f"{where}: columns must be a non-empty list of column names")
        method = text(data, "method", where, required=False)
        if method is not None and method not in _METHODS:
            raise MigrationInvalid(f"{where}: unknown index method {method!r}")
        return cls(
            name,
            table,
            [c.strip() for c in columns],
            bool(flag(data, "unique", where, False)),
            check_expression(text(data, "where", where, required=False), what=f"{where}: where"),
            method,
        )

    def apply(self, state: VersionState, *, where: str) -> Resolved:
        table = state.table(self.table, where)
        mapping = {}
        for name in self.columns:
            mapping[name] = state.column(table, name, where).physical
        state.new_relation_name_free(self.name, where, "index")
        physical_where = None
        if self.where:
            names = {c.name: c.physical for c in table.columns.values()}
            physical_where = rename_columns(self.where, names, where=where)
        state.created_indexes[self.name] = table.physical
        return _Built(self, table.physical, [mapping[c] for c in self.columns], physical_where)


@dataclasses.dataclass(frozen=True)
class _Built(Resolved):
    op: CreateIndex
    table: str  # physical
    columns: list[str]  # physical
    where: str | None  # in physical names

    def expressions(self, ctx: PhaseContext) -> list[Expression]:
        if not self.op.where:
            return []
        return [Expression("where", self.op.where, "boolean", "new", self.table)]

    def expand(self, ctx: PhaseContext) -> list[PlannedStep]:
        op = self.op
        statement = sql.SQL("CREATE {}INDEX CONCURRENTLY IF NOT EXISTS {} ON {}{} ({})").format(
            sql.SQL("UNIQUE " if op.unique else ""),
            sql.Identifier(op.name),
            ctx.table_ref(self.table),
            sql.SQL(" USING {}").format(sql.SQL(op.method)) if op.method else sql.SQL(""),
            sql.SQL(", ").join(sql.Identifier(c) for c in self.columns),
        )
        if self.where:
            where = expression_sql(self.where)
            statement = sql.SQL("{} WHERE {}").format(statement, where)
        return [
            PlannedStep(
                "build",
                f"build index {op.name} CONCURRENTLY",
                (statement,),
                "SHARE UPDATE EXCLUSIVE",
                SCAN,
                lock_timeout_ms=NONBLOCKING_LOCK_TIMEOUT_MS,
                transactional=False,
                creates_index=(ctx.schema, op.name),
                statement_timeout_ms=0,
                stage="indexes",
            )
        ]

    def rollback(self, ctx: PhaseContext) -> list[PlannedStep]:
        return [drop_index_concurrently(ctx.schema, self.op.name)]
