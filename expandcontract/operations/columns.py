"""Column definitions as migration files write them (add_column, create_table).

``check`` is an expression or ``{name, expression (or constraint), no_inherit}``;
``references`` is ``table`` / ``table(column)`` or ``{name, table, column, on_delete,
on_update, match, deferrable, initially_deferred}``. A name the user gives is the constraint's
name in the database (later operations find it by that name).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from expandcontract.operations.base import MigrationInvalid, flag, identifier, text
from expandcontract.operations.context import REFERENCE
from expandcontract.operations.expressions import check_expression, check_type
from expandcontract.operations.index_parts import ForeignKeyOptions

_FIELDS = ("name", "type", "nullable", "default", "primary_key", "identity", "unique", "check",
           "references", "comment")  # fmt: skip
_CHECK_FIELDS = ("name", "expression", "constraint", "no_inherit")
_REFERENCE_FIELDS = ("name", "table", "column", "on_delete", "on_update", "match", "deferrable",
                     "initially_deferred")  # fmt: skip

# PostgreSQL's serial shorthand (CREATE TABLE only): the integer type it stands for.
SERIAL = {
    "smallserial": "smallint",
    "serial2": "smallint",
    "serial": "integer",
    "serial4": "integer",
    "bigserial": "bigint",
    "serial8": "bigint",
}


class ColumnCheck(str):
    """A column's CHECK: the string is the expression; ``name`` the constraint's name when the
    migration gives one (else ec or PostgreSQL derive ``<table>_<column>_check``)."""

    name: str | None
    no_inherit: bool

    def __new__(
        cls, expression: str, name: str | None = None, no_inherit: bool = False
    ) -> ColumnCheck:
        self = super().__new__(cls, expression)
        self.name, self.no_inherit = name, no_inherit
        return self

    def to_spec(self) -> Any:
        if self.name is None and not self.no_inherit:
            return str(self)
        out: dict[str, Any] = {"expression": str(self)}
        if self.name is not None:
            out["name"] = self.name
        if self.no_inherit:
            out["no_inherit"] = True
        return out


class ColumnReference(str):
    """A column's foreign key: the string is its target, ``table`` or ``table(column)``;
    ``name`` the constraint's name when given, ``options`` its actions and deferrability."""

    name: str | None
    options: ForeignKeyOptions

    def __new__(
        cls, target: str, name: str | None = None, options: ForeignKeyOptions | None = None
    ) -> ColumnReference:
        self = super().__new__(cls, target)
        self.name, self.options = name, options or ForeignKeyOptions()
        return self

    def to_spec(self) -> Any:
        if self.name is None and self.options == ForeignKeyOptions():
            return str(self)
        m = REFERENCE.match(self)
        assert m is not None
        out: dict[str, Any] = {"table": m.group("table")}
        if m.group("col"):
            out["column"] = m.group("col")
        if self.name is not None:
            out["name"] = self.name
        return self.options.to_spec(out)


@dataclasses.dataclass(frozen=True)
class ColumnSpec:
    """The fields are the YAML fields of a column."""

    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    primary_key: bool = False
    identity: bool = False
    unique: bool = False
    check: ColumnCheck | None = None
    references: ColumnReference | None = None
    comment: str | None = None

    @classmethod
    def parse(cls, data: Any, where: str, *, serial: bool = False) -> ColumnSpec:
        """``serial``: whether the serial shorthand is allowed (a new, empty table only)."""
        if not isinstance(data, Mapping):
            raise MigrationInvalid(f"{where}: a column is a mapping with at least name and type")
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise MigrationInvalid(
                f"{where}: unknown column field(s) {', '.join(unknown)}",
                f"column fields are: {', '.join(_FIELDS)}",
            )
        column = identifier(data, "name", where, what="column name")
        typ = text(data, "type", where)
        assert typ is not None
        check_type(typ, what=f"{where}: type")
        primary = bool(flag(data, "primary_key", where, False))
        nullable = flag(data, "nullable", where, None)
        identity = bool(flag(data, "identity", where, False))
        default = text(data, "default", where, required=False)
        check_expression(default, what=f"{where}: default")
        if typ.lower() in SERIAL:
            _check_serial(typ, where, serial=serial, default=default, identity=identity)
            if nullable:
                raise MigrationInvalid(f"{where}: a {typ} column is NOT NULL; drop nullable")
            nullable = False
        comment = data.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise MigrationInvalid(f"{where}: comment must be text, got {comment!r}")
        return cls(
            name=column,
            type=typ,
            nullable=(not primary) if nullable is None else nullable,
            default=default,
            primary_key=primary,
            identity=identity,
            unique=bool(flag(data, "unique", where, False)),
            check=_check(data.get("check"), where),
            references=_references(data.get("references"), f"{where}.references"),
            comment=comment,
        )

    @property
    def serial(self) -> bool:
        return self.type.lower() in SERIAL

    @property
    def base_type(self) -> str:
        """The column's type in the catalog (serial is integer with a sequence default)."""
        return SERIAL.get(self.type.lower(), self.type)

    def to_spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        defaults = ColumnSpec(self.name, self.type, nullable=not self.primary_key)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("name", "type") or value == getattr(defaults, f.name):
                continue
            if f.name == "nullable" and self.serial:
                continue
            out[f.name] = value.to_spec() if hasattr(value, "to_spec") else value
        return out


def _check_serial(typ: str, where: str, *, serial: bool, default: Any, identity: bool) -> None:
    if not serial:
        raise MigrationInvalid(
            f"{where}: type {typ!r} is PostgreSQL's shorthand for an integer column with a "
            "sequence default; on an existing table it would fill every row at once",
            "create the sequence (sql operation), then add_column with type integer (bigint) and "
            "default: nextval('<sequence>') — ec fills existing rows in batches",
        )
    if default is not None or identity:
        raise MigrationInvalid(f"{where}: a {typ} column takes no default and no identity")


def _check(value: Any, where: str) -> ColumnCheck | None:
    if value is None:
        return None
    if isinstance(value, str):
        check_expression(value, what=f"{where}: check")
        return ColumnCheck(value)
    where = f"{where}.check"
    if not isinstance(value, Mapping):
        raise MigrationInvalid(f"{where}: check is an expression or {{name, expression}}")
    unknown = sorted(str(k) for k in set(value) - set(_CHECK_FIELDS))
    if unknown:
        raise MigrationInvalid(f"{where}: unknown field(s) {', '.join(unknown)}")
    if "expression" in value and "constraint" in value:
        raise MigrationInvalid(f"{where}: give expression or constraint, not both")
    key = "expression" if "expression" in value else "constraint"
    expression = text(value, key, where, required=True)
    assert expression is not None
    check_expression(expression, what=f"{where}: {key}")
    name = None
    if value.get("name") is not None:
        name = identifier(value, "name", where, what="check name")
    return ColumnCheck(expression, name, bool(flag(value, "no_inherit", where, False)))


def _references(value: Any, where: str) -> ColumnReference | None:
    if value is None:
        return None
    if isinstance(value, str):
        if not REFERENCE.match(value):
            raise MigrationInvalid(f"{where}: references must look like table or table(column)")
        return ColumnReference(value.strip())
    if not isinstance(value, Mapping):
        raise MigrationInvalid(f"{where}: references is table(column) or a mapping")
    unknown = sorted(str(k) for k in set(value) - set(_REFERENCE_FIELDS))
    if unknown:
        raise MigrationInvalid(
            f"{where}: unknown field(s) {', '.join(unknown)}",
            f"references fields are: {', '.join(_REFERENCE_FIELDS)}",
        )
    target = identifier(value, "table", where, what="table name")
    if value.get("column") is not None:
        target = f"{target}({identifier(value, 'column', where, what='column name')})"
    if not REFERENCE.match(target):
        raise MigrationInvalid(f"{where}: {target!r} cannot be referenced (unusual characters)")
    name = None
    if value.get("name") is not None:
        name = identifier(value, "name", where, what="foreign key name")
    return ColumnReference(target, name, ForeignKeyOptions.parse(value, where))
