"""Which columns identify a row: the primary key, a unique NOT NULL key, or (fallback) ctid."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from psycopg import sql

from expandcontract.backfill.errors import BackfillInputError
from expandcontract.runner.runner import Connection

_INTEGER_TYPES = {"smallint", "integer", "bigint"}

# Unique indexes usable for keyset pagination: valid, not partial, plain columns, all NOT NULL,
# default collation/opclass order (ORDER BY on the columns must follow the index).
_UNIQUE_KEYS = """
SELECT i.indisprimary, i.indexrelid::regclass::text,
       array_agg(a.attname::text ORDER BY k.ord),
       array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY k.ord),
       bool_and(a.attnotnull)
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = %s::regclass AND i.indisunique AND i.indisvalid AND i.indimmediate
  AND i.indpred IS NULL AND i.indexprs IS NULL AND NOT (0 = ANY (i.indkey::int2[]))
GROUP BY i.indexrelid, i.indisprimary
ORDER BY i.indisprimary DESC, count(*), i.indexrelid
"""


@dataclasses.dataclass(frozen=True)
class KeyInfo:
    """``columns`` empty means the ctid fallback."""

    columns: tuple[str, ...]
    types: tuple[str, ...]
    source: str  # "primary key", "unique index <name>", "ctid"

    @property
    def is_ctid(self) -> bool:
        return not self.columns

    @property
    def kind(self) -> str:
        if self.is_ctid:
            return "ctid"
        if len(self.columns) > 1:
            return "composite"
        t = self.types[0]
        if t in _INTEGER_TYPES:
            return "integer"
        if t == "uuid":
            return "uuid"
        if t in ("text", "name") or t.startswith(("character", "varchar")):
            return "text"
        return "other"

    def describe(self) -> str:
        if self.is_ctid:
            return (
                "ctid ranges (the table has no primary key or unique NOT NULL key; physical "
                "order, rows moved by concurrent updates are caught by the verification sweep)"
            )
        return f"keyset on {', '.join(self.columns)} ({self.kind}, {self.source})"

    def as_dict(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "types": list(self.types), "source": self.source}


def discover_key(conn: Connection, regclass: str, requested: Sequence[str] | None) -> KeyInfo:
    rows = conn.execute(_UNIQUE_KEYS, (regclass,)).fetchall()
    usable = [
        KeyInfo(tuple(r[2]), tuple(r[3]), "primary key" if r[0] else f"unique index {r[1]}")
        for r in rows
        if r[4]
    ]
    if requested:
        want = tuple(requested)
        for key in usable:
            if key.columns == want:
                return key
        raise BackfillInputError(
            f"key columns ({', '.join(want)}) of {regclass} are not a valid unique index over "
            "NOT NULL columns in that order",
            "keyset pagination needs a unique, NOT NULL key; omit --key to use the primary key",
        )
    if usable:
        return usable[0]
    return KeyInfo((), (), "ctid")


def key_columns_sql(key: KeyInfo, qualifier: sql.Composable | None = None) -> list[sql.Composable]:
    if qualifier is None:
        return [sql.Identifier(c) for c in key.columns]
    return [sql.SQL("{}.{}").format(qualifier, sql.Identifier(c)) for c in key.columns]
