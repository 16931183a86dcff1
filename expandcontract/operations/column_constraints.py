"""alter_column's ``unique``, ``check`` and ``references``: a constraint on one column, with the
name the user gives (kept, so a later drop_constraint or rename_constraint finds it) or the one
PostgreSQL would choose (``<table>_<column>_key|check|fkey``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from expandcontract.operations import constraint_names, ddl
from expandcontract.operations.base import MigrationInvalid, check_name, flag, text
from expandcontract.operations.constraints import Built, References, Target
from expandcontract.operations.context import REFERENCE
from expandcontract.operations.create_constraint import resolve_target
from expandcontract.operations.expressions import check_expression, rename_columns
from expandcontract.operations.state import LogicalTable, VersionState

_SUFFIX = {"unique": "key", "check": "check", "foreign_key": "fkey"}


@dataclasses.dataclass(frozen=True)
class ColumnConstraint:
    kind: str  # unique | check | foreign_key
    name: str | None  # None: PostgreSQL's default name
    check: str | None = None
    references: References | None = None
    nulls_not_distinct: bool = False

    def final_name(self, table: str, column: str) -> str:
        return self.name or ddl.object_name(table, column, suffix=_SUFFIX[self.kind])

    def build(
        self,
        state: VersionState,
        table: LogicalTable,
        column: str,
        physical: str,
        *,
        twinned: bool,
        where: str,
    ) -> Built:
        """Record the name and resolve to the physical column (the twin when there is one)."""
        name = self.final_name(table.name, column)
        letter = constraint_names.KIND_LETTERS[self.kind]
        registry = constraint_names.names(state)
        build = registry.create(table, name, letter, [physical], where)
        check = None
        if self.check is not None:
            names = {c.name: c.physical for c in table.columns.values()}
            check = rename_columns(self.check, names, where=f"{where}: check")
        target: Target | None = resolve_target(state, self.references, where)
        return Built(
            self.kind, name, build, table.physical, (physical,), check, target,
            nulls_not_distinct=self.nulls_not_distinct,
            index_after_backfill=twinned and self.nulls_not_distinct,
            escape_pending=twinned and self.kind == "check",
        )  # fmt: skip


def _name(data: Mapping[str, Any], where: str) -> str | None:
    name = text(data, "name", where, required=False)
    if name is not None:
        check_name(name, f"{where}: name", what="constraint name")
    return name


def _fields(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in set(data) - allowed)
    if unknown:
        raise MigrationInvalid(f"{where}: unknown field(s) {', '.join(unknown)}")


def parse_unique(value: Any, where: str) -> ColumnConstraint | None:
    if value is None or value is False:
        return None
    if value is True:
        return ColumnConstraint("unique", None)
    if not isinstance(value, Mapping):
        raise MigrationInvalid(f"{where}: unique is true or a mapping {{name, nulls_not_distinct}}")
    _fields(value, {"name", "nulls_not_distinct"}, where)
    nnd = bool(flag(value, "nulls_not_distinct", where, False))
    return ColumnConstraint("unique", _name(value, where), nulls_not_distinct=nnd)


def parse_check(value: Any, where: str) -> ColumnConstraint | None:
    """A string (the expression) or {name, expression} (``constraint``: pgroll's spelling)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = {"expression": value}
    if not isinstance(value, Mapping):
        raise MigrationInvalid(f"{where}: check is an expression or a mapping {{name, expression}}")
    _fields(value, {"name", "expression", "constraint"}, where)
    if ("expression" in value) == ("constraint" in value):
        raise MigrationInvalid(f"{where}: check needs its expression (expression:)")
    key = "expression" if "expression" in value else "constraint"
    expression = check_expression(text(value, key, where), what=f"{where}: {key}")
    return ColumnConstraint("check", _name(value, where), check=expression)


def parse_references(value: Any, where: str) -> ColumnConstraint | None:
    """``table(column)`` or {name, table, column, on_delete, on_update, match}."""
    if value is None:
        return None
    if isinstance(value, str):
        m = REFERENCE.match(value)
        if not m or not m.group("col"):
            raise MigrationInvalid(f"{where}: references must look like table(column)")
        value = {"table": m.group("table"), "column": m.group("col")}
    if not isinstance(value, Mapping):
        raise MigrationInvalid(f"{where}: references is table(column) or a mapping")
    if "columns" in value:
        raise MigrationInvalid(f"{where}: one column references one column (column:)")
    refs = References.parse(value, where)
    return ColumnConstraint("foreign_key", _name(value, where), references=refs)
