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

from expandcontract.operations.base import MigrationInvalid, check_name, flag, identifier, text
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


@dataclasses.dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    primary_key: bool = False
    identity: bool = False
    unique: bool = False
    check: str | None = None  # the expression
    references: str | None = None  # "table(column)" or "table"
    check_name: str | None = None
    check_no_inherit: bool = False
    references_name: str | None = None
    foreign_key: ForeignKeyOptions = dataclasses.field(default_factory=ForeignKeyOptions)
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
        check, check_name_, no_inherit = _check(data.get("check"), f"{where}.check")
        references, references_name, options = _references(
            data.get("references"), f"{where}.references"
        )
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
            check=check,
            references=references,
            check_name=check_name_,
            check_no_inherit=no_inherit,
            references_name=references_name,
            foreign_key=options,
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
        for key in ("nullable", "default", "primary_key", "identity", "unique", "comment"):
            value = getattr(self, key)
            if value != getattr(defaults, key) and not (key == "nullable" and self.serial):
                out[key] = value
        if self.check is not None:
            if self.check_name is None and not self.check_no_inherit:
                out["check"] = self.check
            else:
                spec: dict[str, Any] = {"expression": self.check}
                if self.check_name is not None:
                    spec["name"] = self.check_name
                if self.check_no_inherit:
                    spec["no_inherit"] = True
                out["check"] = spec
        if self.references is not None:
            if self.references_name is None and self.foreign_key == ForeignKeyOptions():
                out["references"] = self.references
            else:
                m = REFERENCE.match(self.references)
                assert m is not None
                ref: dict[str, Any] = {"table": m.group("table")}
                if m.group("col"):
                    ref["column"] = m.group("col")
                if self.references_name is not None:
                    ref["name"] = self.references_name
                out["references"] = self.foreign_key.to_spec(ref)
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


def _check(value: Any, where: str) -> tuple[str | None, str | None, bool]:
    if value is None:
        return None, None, False
    if isinstance(value, str):
        check_expression(value, what=where)
        return value, None, False
    if not isinstance(value, Mapping):
        raise MigrationInvalid(f"{where}: check is an expression or {{name, expression}}")
    unknown = sorted(str(k) for k in set(value) - set(_CHECK_FIELDS))
    if unknown:
        raise MigrationInvalid(f"{where}: unknown field(s) {', '.join(unknown)}")
    if "expression" in value and "constraint" in value:
        raise MigrationInvalid(f"{where}: give expression or constraint, not both")
    key = "expression" if "expression" in value else "constraint"
    expression = text(value, key, f"{where}: check", required=True)
    assert expression is not None
    check_expression(expression, what=where)
    name = value.get("name")
    if name is not None:
        name = identifier(value, "name", where, what="check name")
    return expression, name, bool(flag(value, "no_inherit", where, False))


def _references(value: Any, where: str) -> tuple[str | None, str | None, ForeignKeyOptions]:
    if value is None:
        return None, None, ForeignKeyOptions()
    if isinstance(value, str):
        if not REFERENCE.match(value):
            raise MigrationInvalid(f"{where}: references must look like table or table(column)")
        return value.strip(), None, ForeignKeyOptions()
    if not isinstance(value, Mapping):
        raise MigrationInvalid(f"{where}: references is table(column) or a mapping")
    unknown = sorted(str(k) for k in set(value) - set(_REFERENCE_FIELDS))
    if unknown:
        raise MigrationInvalid(
            f"{where}: unknown field(s) {', '.join(unknown)}",
            f"references fields are: {', '.join(_REFERENCE_FIELDS)}",
        )
    table = identifier(value, "table", where, what="table name")
    target = table
    if value.get("column") is not None:
        target = f"{table}({identifier(value, 'column', where, what='column name')})"
    if not REFERENCE.match(target):
        raise MigrationInvalid(f"{where}: {target!r} cannot be referenced (unusual characters)")
    name = value.get("name")
    if name is not None:
        name = identifier(value, "name", where, what="foreign key name")
        check_name(name, where)
    return target, name, ForeignKeyOptions.parse(value, where)
