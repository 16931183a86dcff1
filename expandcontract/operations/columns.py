"""Column definitions as migration files write them (add_column, create_table)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from expandcontract.operations.base import MigrationInvalid, flag, identifier, text
from expandcontract.operations.expressions import check_expression, check_type

_FIELDS = ("name", "type", "nullable", "default", "primary_key", "identity", "unique", "check",
           "references")  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    primary_key: bool = False
    identity: bool = False
    unique: bool = False
    check: str | None = None
    references: str | None = None  # "table(column)" or "table"

    @classmethod
    def parse(cls, data: Any, where: str) -> ColumnSpec:
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
        for key in ("default", "check"):
            check_expression(text(data, key, where, required=False), what=f"{where}: {key}")
        primary = bool(flag(data, "primary_key", where, False))
        nullable = flag(data, "nullable", where, None)
        return cls(
            name=column,
            type=typ,
            nullable=(not primary) if nullable is None else nullable,
            default=text(data, "default", where, required=False),
            primary_key=primary,
            identity=bool(flag(data, "identity", where, False)),
            unique=bool(flag(data, "unique", where, False)),
            check=text(data, "check", where, required=False),
            references=text(data, "references", where, required=False),
        )

    def to_spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        defaults = ColumnSpec(self.name, self.type, nullable=not self.primary_key)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name not in ("name", "type") and value != getattr(defaults, f.name):
                out[f.name] = value
        return out
