"""What a version sees in its schema: relations (tables or ec's views), their columns with
types, nullability and defaults, and the unique and check constraints on tables."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import psycopg

_COLUMNS = """
SELECT c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod),
       a.attnotnull, d.adbin IS NOT NULL, a.attidentity <> '' OR a.attgenerated <> ''
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v')
ORDER BY c.relname, a.attnum
"""
_CONSTRAINTS = """
SELECT c.relname, k.conname, k.contype,
       ARRAY(SELECT a.attname FROM unnest(k.conkey) AS u(n)
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = u.n),
       pg_get_constraintdef(k.oid)
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND k.contype IN ('u', 'c', 'p')
UNION ALL
SELECT c.relname, i.relname, 'i',
       ARRAY(SELECT a.attname FROM unnest(x.indkey) AS u(n)
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = u.n),
       pg_get_indexdef(i.oid)
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND x.indisunique AND NOT x.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.oid)
"""
_NOT_NULL_CHECK = re.compile(r'^CHECK \(\(?"?(?P<col>[^"()]+)"? IS NOT NULL\)?\)')


@dataclasses.dataclass
class DbColumn:
    name: str
    type: str
    not_null: bool
    has_default: bool
    generated: bool  # identity or generated: the database fills it


@dataclasses.dataclass
class DbConstraint:
    name: str
    kind: str  # u unique, c check, p primary key, i unique index
    columns: list[str]
    definition: str


@dataclasses.dataclass
class Relation:
    name: str
    kind: str  # r/p table, v view
    columns: dict[str, DbColumn] = dataclasses.field(default_factory=dict)
    constraints: list[DbConstraint] = dataclasses.field(default_factory=list)


def relations(conn: psycopg.Connection[Any], schema: str) -> dict[str, Relation]:
    out: dict[str, Relation] = {}
    for rel, kind, col, type_, not_null, has_default, generated in conn.execute(
        _COLUMNS, (schema,)
    ):
        relation = out.setdefault(rel, Relation(rel, kind))
        relation.columns[col] = DbColumn(col, type_, not_null, has_default, generated)
    for rel, name, kind, columns, definition in conn.execute(_CONSTRAINTS, (schema, schema)):
        if rel not in out:
            continue
        out[rel].constraints.append(DbConstraint(name, kind, list(columns), definition))
        match = _NOT_NULL_CHECK.match(definition) if kind == "c" else None
        if match and match.group("col") in out[rel].columns:
            # ec (and careful humans) add NOT NULL as CHECK (col IS NOT NULL) NOT VALID first
            out[rel].columns[match.group("col")].not_null = True
    return out


def constraint_names(rels: dict[str, Relation]) -> set[tuple[str, str]]:
    return {(r.name, c.name) for r in rels.values() for c in r.constraints}
