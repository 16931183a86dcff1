"""create_table's ``constraints:``: primary key, unique, check, foreign key and exclusion, each
named, parsed into data and rendered with psycopg.sql. The table is new and empty, so all of
them are created directly in its CREATE TABLE."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from psycopg import sql

from expandcontract.operations.base import MigrationInvalid, flag, identifier, text
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.expressions import check_expression, expression_sql
from expandcontract.operations.index_parts import (
    INCLUDE_METHODS,
    METHODS,
    ForeignKeyOptions,
    IndexElement,
    Scalar,
    deferrability,
    deferrable_sql,
    name_list,
    storage_parameters,
    storage_sql,
)

TYPES = ("primary_key", "unique", "check", "foreign_key", "exclude")
_COMMON = ("type", "name")
_FIELDS = {
    "primary_key": ("columns", "include", "storage_parameters", "deferrable",
                    "initially_deferred"),
    "unique": ("columns", "include", "storage_parameters", "deferrable", "initially_deferred",
               "nulls_not_distinct"),
    "check": ("check", "expression", "no_inherit"),
    "foreign_key": ("columns", "references", "deferrable", "initially_deferred"),
    "exclude": ("method", "elements", "include", "storage_parameters", "where", "deferrable",
                "initially_deferred"),
}  # fmt: skip
_REFERENCES = ("table", "columns", "column", "on_delete", "on_update", "match")
# Backed by an index: the name is also a relation name.
INDEXED = ("primary_key", "unique", "exclude")


@dataclasses.dataclass(frozen=True)
class TableConstraint:
    type: str
    name: str
    columns: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    storage_parameters: tuple[tuple[str, Scalar], ...] = ()
    deferrable: bool = False
    initially_deferred: bool = False
    nulls_not_distinct: bool = False
    check: str | None = None
    no_inherit: bool = False
    references_table: str | None = None
    references_columns: tuple[str, ...] = ()
    foreign_key: ForeignKeyOptions = dataclasses.field(default_factory=ForeignKeyOptions)
    method: str | None = None
    elements: tuple[IndexElement, ...] = ()
    where: str | None = None

    @classmethod
    def parse(cls, data: Any, where: str) -> TableConstraint:
        if not isinstance(data, Mapping):
            raise MigrationInvalid(f"{where}: a constraint is a mapping with type and name")
        kind = data.get("type")
        if kind not in TYPES:
            raise MigrationInvalid(
                f"{where}: constraint type must be one of {', '.join(TYPES)}, got {kind!r}"
            )
        allowed = (*_COMMON, *_FIELDS[kind])
        unknown = sorted(str(k) for k in set(data) - set(allowed))
        if unknown:
            raise MigrationInvalid(
                f"{where}: unknown field(s) {', '.join(unknown)} for a {kind} constraint",
                f"a {kind} constraint accepts: {', '.join(allowed)}",
            )
        name = identifier(data, "name", where, what="constraint name")
        fields: dict[str, Any] = {"type": kind, "name": name}
        if "columns" in _FIELDS[kind]:
            fields["columns"] = tuple(name_list(data.get("columns"), where, "columns"))
        if "deferrable" in _FIELDS[kind]:
            fields["deferrable"], fields["initially_deferred"] = deferrability(data, where)
        method = "btree"
        if kind == "exclude":
            method = text(data, "method", where, required=False) or "gist"
            if method not in METHODS:
                raise MigrationInvalid(f"{where}: unknown index method {method!r}")
            raw = data.get("elements")
            if not isinstance(raw, list) or not raw:
                raise MigrationInvalid(f"{where}: elements must be a non-empty list")
            fields["method"] = method
            fields["elements"] = tuple(
                IndexElement.parse(e, f"{where}.elements[{i}]", operator=True)
                for i, e in enumerate(raw)
            )
            fields["where"] = check_expression(
                text(data, "where", where, required=False), what=f"{where}: where"
            )
        if "include" in _FIELDS[kind]:
            fields["include"] = tuple(name_list(data.get("include"), where, "include", empty=True))
            if fields["include"] and method not in INCLUDE_METHODS:
                raise MigrationInvalid(f"{where}: {method} indexes have no INCLUDE")
        if "storage_parameters" in _FIELDS[kind]:
            params = storage_parameters(data.get("storage_parameters"), method, where)
            fields["storage_parameters"] = tuple(params.items())
        if kind == "unique":
            fields["nulls_not_distinct"] = bool(flag(data, "nulls_not_distinct", where, False))
        if kind == "check":
            if "check" in data and "expression" in data:
                raise MigrationInvalid(f"{where}: give check or expression, not both")
            key = "expression" if "expression" in data else "check"
            fields["check"] = check_expression(text(data, key, where), what=f"{where}: {key}")
            fields["no_inherit"] = bool(flag(data, "no_inherit", where, False))
        if kind == "foreign_key":
            fields.update(_references(data.get("references"), len(fields["columns"]), where))
        return cls(**fields)

    def to_spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "name": self.name}
        for key in ("columns", "include"):
            if getattr(self, key):
                out[key] = list(getattr(self, key))
        if self.storage_parameters:
            out["storage_parameters"] = dict(self.storage_parameters)
        for key in ("deferrable", "initially_deferred", "nulls_not_distinct", "no_inherit"):
            if getattr(self, key):
                out[key] = True
        if self.check is not None:
            out["check"] = self.check
        if self.references_table is not None:
            ref: dict[str, Any] = {"table": self.references_table}
            if self.references_columns:
                ref["columns"] = list(self.references_columns)
            out["references"] = self.foreign_key.to_spec(ref)
        if self.type == "exclude":
            out["method"] = self.method
            out["elements"] = [e.to_spec() for e in self.elements]
            if self.where is not None:
                out["where"] = self.where
        return out

    def used_columns(self) -> list[str]:
        """Plain column names it lists (expressions are checked by PostgreSQL)."""
        used = [*self.columns, *self.include]
        return used + [e.column for e in self.elements if e.column is not None]

    def references(self) -> list[str]:
        """``table(column)`` for validation, one per referenced column."""
        if self.references_table is None:
            return []
        if not self.references_columns:
            return [self.references_table]
        return [f"{self.references_table}({c})" for c in self.references_columns]

    def render(self, ctx: PhaseContext, resolve: Callable[[str], str]) -> sql.Composed:
        """``resolve``: a referenced table's new-version name -> its physical name."""
        columns = sql.SQL(", ").join(map(sql.Identifier, self.columns))
        tail: list[sql.Composable] = []
        if self.include:
            tail.append(
                sql.SQL(" INCLUDE ({})").format(
                    sql.SQL(", ").join(map(sql.Identifier, self.include))
                )
            )
        tail.append(storage_sql(dict(self.storage_parameters)))
        if self.type == "primary_key":
            body = sql.SQL("PRIMARY KEY ({}){}").format(columns, sql.Composed(tail))
        elif self.type == "unique":
            nnd = sql.SQL(" NULLS NOT DISTINCT" if self.nulls_not_distinct else "")
            body = sql.SQL("UNIQUE{} ({}){}").format(nnd, columns, sql.Composed(tail))
        elif self.type == "check":
            assert self.check is not None
            body = sql.SQL("CHECK ({}){}").format(
                expression_sql(self.check), sql.SQL(" NO INHERIT" if self.no_inherit else "")
            )
        elif self.type == "foreign_key":
            assert self.references_table is not None
            target: sql.Composable = ctx.table_ref(resolve(self.references_table))
            if self.references_columns:
                target = sql.SQL("{} ({})").format(
                    target, sql.SQL(", ").join(map(sql.Identifier, self.references_columns))
                )
            body = sql.SQL("FOREIGN KEY ({}) REFERENCES {}{}").format(
                columns, target, self.foreign_key.clause()
            )
        else:
            elements = sql.SQL(", ").join(e.render(str, str) for e in self.elements)
            where = (
                sql.SQL(" WHERE ({})").format(expression_sql(self.where))
                if self.where
                else sql.SQL("")
            )
            body = sql.SQL("EXCLUDE USING {} ({}){}{}").format(
                sql.SQL(str(self.method)), elements, sql.Composed(tail), where
            )
        return sql.SQL("CONSTRAINT {} {}{}").format(
            sql.Identifier(self.name),
            body,
            deferrable_sql(self.deferrable, self.initially_deferred),
        )


def _references(value: Any, count: int, where: str) -> dict[str, Any]:
    where = f"{where}.references"
    if not isinstance(value, Mapping):
        raise MigrationInvalid(f"{where}: a foreign key needs references: {{table, columns}}")
    unknown = sorted(str(k) for k in set(value) - set(_REFERENCES))
    if unknown:
        raise MigrationInvalid(f"{where}: unknown field(s) {', '.join(unknown)}")
    if "column" in value and "columns" in value:
        raise MigrationInvalid(f"{where}: give column or columns, not both")
    columns: list[str] = []
    if "column" in value:
        columns = [identifier(value, "column", where, what="column name")]
    elif "columns" in value:
        columns = name_list(value["columns"], where, "references.columns")
    if columns and len(columns) != count:
        raise MigrationInvalid(
            f"{where}: {count} column(s) reference {len(columns)} column(s); the lists must match"
        )
    options = ForeignKeyOptions.parse(value, where)
    if options.deferrable:  # deferrability belongs to the constraint, not its target
        raise MigrationInvalid(f"{where}: deferrable is a field of the constraint")
    return {
        "references_table": identifier(value, "table", where, what="table name"),
        "references_columns": tuple(columns),
        "foreign_key": options,
    }
