"""create_index: built CONCURRENTLY during expand (no write lock); an INVALID leftover of a
failed build is dropped and rebuilt by the runner."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from psycopg import sql

from expandcontract.operations.base import (
    NONBLOCKING_LOCK_TIMEOUT_MS,
    SCAN,
    MigrationInvalid,
    Operation,
    PlannedStep,
    flag,
    identifier,
    text,
)
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
    fields: ClassVar[dict[str, bool]] = {
        "name": True,
        "table": True,
        "columns": True,
        "unique": False,
        "where": False,
        "method": False,
    }

    name: str
    table: str
    columns: list[str]
    unique: bool = False
    where: str | None = None
    method: str | None = None
    _physical_table: str = ""
    _physical_columns: list[str] = dataclasses.field(default_factory=list)
    _physical_where: str | None = None

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

    def to_spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "table": self.table, "columns": self.columns}
        if self.unique:
            out["unique"] = True
        if self.where:
            out["where"] = self.where
        if self.method:
            out["method"] = self.method
        return out

    def apply(self, state: VersionState, *, where: str) -> None:
        table = state.table(self.table, where)
        mapping = {}
        for name in self.columns:
            mapping[name] = state.column(table, name, where).physical
        state.new_relation_name_free(self.name, where, "index")
        self._physical_table = table.physical
        self._physical_columns = [mapping[c] for c in self.columns]
        if self.where:
            names = {c.name: c.physical for c in table.columns.values()}
            self._physical_where = rename_columns(self.where, names, where=where)
        state.created_indexes[self.name] = table.physical

    def expand(self, ctx: Any) -> list[PlannedStep]:
        statement = sql.SQL("CREATE {}INDEX CONCURRENTLY IF NOT EXISTS {} ON {}{} ({})").format(
            sql.SQL("UNIQUE " if self.unique else ""),
            sql.Identifier(self.name),
            ctx.table_ref(self._physical_table),
            sql.SQL(" USING {}").format(sql.SQL(self.method)) if self.method else sql.SQL(""),
            sql.SQL(", ").join(sql.Identifier(c) for c in self._physical_columns),
        )
        if self._physical_where:
            where = expression_sql(self._physical_where)
            statement = sql.SQL("{} WHERE {}").format(statement, where)
        return [
            PlannedStep(
                "build",
                f"build index {self.name} CONCURRENTLY",
                (statement,),
                "SHARE UPDATE EXCLUSIVE",
                SCAN,
                lock_timeout_ms=NONBLOCKING_LOCK_TIMEOUT_MS,
                transactional=False,
                creates_index=(ctx.schema, self.name),
                statement_timeout_ms=0,
                stage="indexes",
            )
        ]

    def rollback(self, ctx: Any) -> list[PlannedStep]:
        return [drop_index_concurrently(ctx.schema, self.name)]
