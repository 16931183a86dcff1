"""Is a column's type in the database compatible with the type the app declares? Narrowing
(bigint -> integer, varchar(50) -> varchar(20), numeric(12,2) -> numeric(8,2)) or a different
kind (text -> integer) breaks the app; widening does not."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from sqlalchemy import types as sqltypes
from sqlalchemy.dialects.postgresql import REAL
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.engine import Dialect

from expandcontract.verify.values import int_kind

# SQLAlchemy's dialect constructor carries no annotations
PG_DIALECT: Dialect = PGDialect()  # type: ignore[no-untyped-call]
INT_BYTES = {"smallint": 2, "integer": 4, "bigint": 8}
INT_DIGITS = {"smallint": 5, "integer": 10, "bigint": 19}


@dataclasses.dataclass(frozen=True)
class Kind:
    family: str  # int, numeric, float, text, bool, date, timestamp, timestamptz, time, ...
    size: int | None = None  # int/float bytes, text length
    precision: int | None = None
    scale: int | None = None
    name: str = ""

    def describe(self) -> str:
        return self.name or self.family


_DB_PATTERNS: list[tuple[str, str]] = [
    (r"^(smallint|integer|bigint)$", "int"),
    (r"^numeric(\((\d+),(\d+)\))?$", "numeric"),
    (r"^(real|double precision)$", "float"),
    (r"^(text|character varying|character|varchar)(\((\d+)\))?$", "text"),
    (r"^boolean$", "bool"),
    (r"^date$", "date"),
    (r"^timestamp(\(\d\))? without time zone$", "timestamp"),
    (r"^timestamp(\(\d\))? with time zone$", "timestamptz"),
    (r"^time(\(\d\))? (with|without) time zone$", "time"),
    (r"^interval", "interval"),
    (r"^uuid$", "uuid"),
    (r"^jsonb?$", "json"),
    (r"^bytea$", "bytea"),
]


def db_kind(type_: str) -> Kind:
    if type_.endswith("[]"):
        return Kind("array", name=type_)
    for pattern, family in _DB_PATTERNS:
        m = re.match(pattern, type_)
        if not m:
            continue
        if family == "int":
            return Kind("int", INT_BYTES[type_], name=type_)
        if family == "numeric":
            p, s = m.group(2), m.group(3)
            return Kind("numeric", None, int(p) if p else None, int(s) if s else None, type_)
        if family == "float":
            return Kind("float", 4 if type_ == "real" else 8, name=type_)
        if family == "text":
            length = m.group(3)
            return Kind("text", int(length) if length else None, name=type_)
        return Kind(family, name=type_)
    return Kind("other", name=type_)


def app_kind(type_: sqltypes.TypeEngine[Any]) -> Kind:
    name = str(type_.compile(dialect=PG_DIALECT)).lower()
    if isinstance(type_, sqltypes.Interval):  # a TypeDecorator over DateTime elsewhere
        return Kind("interval", name=name)
    if isinstance(type_, sqltypes.TypeDecorator):
        return app_kind(type_.impl_instance)
    if isinstance(type_, sqltypes.Boolean):
        return Kind("bool", name=name)
    if isinstance(type_, sqltypes.Enum):
        return Kind("other", name=name)
    if isinstance(type_, sqltypes.Integer):
        kind = int_kind(type_)
        return Kind("int", INT_BYTES[kind], name=kind)
    if isinstance(type_, sqltypes.Float):
        single = isinstance(type_, REAL) or (type_.precision is not None and type_.precision <= 24)
        return Kind("float", 4 if single else 8, name=name)
    if isinstance(type_, sqltypes.Numeric):
        return Kind("numeric", None, type_.precision, type_.scale, name)
    if isinstance(type_, sqltypes.String):
        return Kind("text", type_.length, name=name)
    if isinstance(type_, sqltypes.DateTime):
        return Kind("timestamptz" if type_.timezone else "timestamp", name=name)
    if isinstance(type_, sqltypes.Date):
        return Kind("date", name=name)
    if isinstance(type_, sqltypes.Time):
        return Kind("time", name=name)
    if isinstance(type_, sqltypes.Interval):
        return Kind("interval", name=name)
    if isinstance(type_, sqltypes.Uuid):
        return Kind("uuid", name=name)
    if isinstance(type_, sqltypes.JSON):
        return Kind("json", name=name)
    if isinstance(type_, sqltypes.LargeBinary):
        return Kind("bytea", name=name)
    if isinstance(type_, sqltypes.ARRAY):
        return Kind("array", name=name)
    return Kind("other", name=name)


def incompatibility(app: Kind, db: Kind) -> str | None:
    """None when the app can write and read the column as declared, else why not."""
    if "other" in (app.family, db.family) or "array" in (app.family, db.family):
        return None  # enums, domains, arrays: left to the dynamic check
    if app.family == "int" and db.family == "numeric":
        digits = None if db.precision is None else db.precision - (db.scale or 0)
        if digits is not None and digits < INT_DIGITS[app.name]:
            return f"narrowing: the app writes {app.name} values, the column is {db.name}"
        return None
    if app.family == "int" and db.family == "float":
        return None
    if app.family != db.family:
        return f"different kind: the app declares {app.describe()}, the column is {db.name}"
    if app.family in ("int", "float") and (db.size or 0) < (app.size or 0):
        return f"narrowing: the app declares {app.describe()}, the column is {db.name}"
    if app.family == "text" and db.size is not None and (app.size is None or app.size > db.size):
        return f"narrowing: the app declares {app.describe()}, the column is {db.name}"
    if app.family == "numeric" and db.precision is not None:
        if app.precision is None:
            return (
                f"narrowing: the app declares unbounded {app.describe()}, the column is {db.name}"
            )
        app_int = app.precision - (app.scale or 0)
        db_int = db.precision - (db.scale or 0)
        if db_int < app_int or (db.scale or 0) < (app.scale or 0):
            return f"narrowing: the app declares {app.describe()}, the column is {db.name}"
    return None
