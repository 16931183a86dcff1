"""Column types as PostgreSQL names them, so rules compare types, not spellings.

``int``, ``integer`` and ``int4`` are all ``PgType("integer")``; ``varchar(20)[]`` is
``PgType("character varying", ("20",), array=True)``. The names are the ones ``format_type``
prints (what ``\\d`` and ``pg_attribute`` show), so a type read from a migration compares equal
to one read from a database's catalog. sqlglot parses the type; this module only names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # sqlglot is loaded only when a statement is parsed, not for cache hits
    from sqlglot import exp

# sqlglot's type enum member name -> PostgreSQL's canonical name. Types not listed keep their
# own name (lower case): user-defined, extension, and PostgreSQL types whose name is canonical.
_CANONICAL: dict[str, str] = {
    "SMALLINT": "smallint",
    "INT": "integer",
    "BIGINT": "bigint",
    "SMALLSERIAL": "smallserial",
    "SERIAL": "serial",
    "BIGSERIAL": "bigserial",
    "DECIMAL": "numeric",
    "FLOAT": "real",
    "DOUBLE": "double precision",
    "BOOLEAN": "boolean",
    "TEXT": "text",
    "VARCHAR": "character varying",
    "CHAR": "character",
    "BPCHAR": "character",
    "VARBINARY": "bytea",
    "TIMESTAMP": "timestamp without time zone",
    "TIMESTAMPTZ": "timestamp with time zone",
    "TIME": "time without time zone",
    "TIMETZ": "time with time zone",
    "DATE": "date",
    "INTERVAL": "interval",
    "JSON": "json",
    "JSONB": "jsonb",
    "UUID": "uuid",
    "MONEY": "money",
    "INET": "inet",
    "XML": "xml",
}

SERIALS = ("smallserial", "serial", "bigserial")
INTEGERS = ("smallint", "integer", "bigint")
# A serial column's real type (what the catalog shows).
SERIAL_TYPE = {"smallserial": "smallint", "serial": "integer", "bigserial": "bigint"}


@dataclass(frozen=True)
class PgType:
    name: str  # canonical PostgreSQL name, e.g. "character varying"
    modifiers: tuple[str, ...] = ()  # ("20",) for varchar(20), ("10", "2") for numeric(10,2)
    array: bool = False
    known: bool = True  # False: sqlglot could not read it; ``name`` is the text as written

    @property
    def storage(self) -> PgType:
        """The type the column really has (serial -> integer)."""
        if self.name in SERIAL_TYPE:
            return PgType(SERIAL_TYPE[self.name], (), self.array)
        return self

    def __str__(self) -> str:
        mods = f"({','.join(self.modifiers)})" if self.modifiers else ""
        return f"{self.name}{mods}{'[]' if self.array else ''}"


def from_sqlglot(node: exp.Expr | None) -> PgType | None:
    from sqlglot import exp

    from expandcontract.lint.dialect import render

    if not isinstance(node, exp.DataType):
        return None
    member = getattr(node.this, "name", str(node.this))
    if member == "ARRAY" and node.expressions:
        inner = from_sqlglot(node.expressions[0])
        return PgType(inner.name, inner.modifiers, True, inner.known) if inner else None
    name = _CANONICAL.get(member)
    if name is None:
        if member == "USERDEFINED":
            return _user_type(_user_type_name(render(node).split("(")[0]))
        name = str(getattr(node.this, "value", node.this)).lower()
    modifiers = tuple(
        render(e).lower() for e in node.expressions if not isinstance(e, exp.DataType)
    )
    if name in ("real", "double precision") and modifiers:
        # float(p): PostgreSQL picks real for p <= 24, double precision above; no modifier
        digits = modifiers[0]
        name = "real" if digits.isdigit() and int(digits) <= 24 else "double precision"
        modifiers = ()
    return PgType(name, modifiers)


# PostgreSQL's own spellings sqlglot reads as user-defined types.
_ALIASES = {"serial2": "smallserial", "serial4": "serial", "serial8": "bigserial"}


def _user_type(name: str) -> PgType:
    """A name sqlglot did not map: a built-in written schema-qualified (pg_catalog.int4) or
    quoted ("timestamp"), one of PostgreSQL's aliases (serial8), or a real user type."""
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    from expandcontract.lint.dialect import DIALECT

    bare = name.removeprefix("pg_catalog.")
    bare = _ALIASES.get(bare, bare)
    if not bare.replace("_", "").isalnum() or bare != bare.lower():
        return PgType(name)  # qualified by another schema, or a mixed-case (quoted) name
    try:
        node = exp.DataType.build(bare, dialect=DIALECT)
    except (ParseError, TokenError, ValueError):
        return PgType(bare if bare in _ALIASES.values() else name)
    member = getattr(node.this, "name", "")
    if member in ("USERDEFINED", "ARRAY"):
        return PgType(bare if bare in _ALIASES.values() else name)
    return from_sqlglot(node) or PgType(name)


_BIT_VARYING = re.compile(r"(?:bit\s+varying|varbit)\s*(?:\(\s*(\d+)\s*\))?\s*(\[\])?", re.I)


def _user_type_name(written: str) -> str:
    """A (qualified) type name as PostgreSQL stores it: quoted parts keep their case."""
    parts = []
    for raw in written.strip().split("."):
        part = raw.strip()
        quoted = len(part) > 1 and part[0] == part[-1] == '"'
        parts.append(part[1:-1].replace('""', '"') if quoted else part.lower())
    return ".".join(parts)


def from_text(text: str) -> PgType:
    """The type written as ``text`` (from the token fallback, or a catalog's format_type)."""
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    from expandcontract.lint.dialect import DIALECT

    written = " ".join(text.split())
    if written.lower().startswith("pg_catalog.") or written.lower() in _ALIASES:
        return _user_type(written.lower())
    varying = _BIT_VARYING.fullmatch(written)
    if varying:  # sqlglot reads "bit varying(n)" as plain bit and does not know varbit
        return PgType("bit varying", (varying[1],) if varying[1] else (), bool(varying[2]))
    try:
        node = exp.DataType.build(written, dialect=DIALECT)
    except (ParseError, TokenError, ValueError):
        node = None
    built = from_sqlglot(node) if node is not None else None
    if built is not None:
        return built
    base = written.removesuffix("[]")
    # a bare (qualified) name is a user-defined or extension type: named, just not mapped
    plain = all(part.replace("_", "").replace('"', "").isalnum() for part in base.split("."))
    name = _user_type_name(base) if plain else base.lower()
    return PgType(name, (), written.endswith("[]"), known=plain)


def same_storage(old: PgType, new: PgType) -> bool:
    return old.storage == new.storage
