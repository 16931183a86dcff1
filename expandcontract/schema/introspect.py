"""Read a live schema from the catalogs into :mod:`expandcontract.schema.model`."""

from __future__ import annotations

from typing import Any

import psycopg

from expandcontract.schema.model import Column, Constraint, Index, Schema, Table

_TABLES = """
SELECT c.oid, c.relname, c.relkind, greatest(c.reltuples, 0)::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p')
"""

_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated <> ''
FROM pg_attribute a
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

_INDEXES = """
SELECT i.indrelid, ic.relname, i.indisunique, i.indisprimary, i.indisvalid,
       pg_get_indexdef(i.indexrelid), pg_get_expr(i.indpred, i.indrelid),
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
             FROM generate_series(1, i.indnkeyatts) k),
       (i.indexprs IS NULL AND i.indnatts = i.indnkeyatts AND am.amname = 'btree'
        AND NOT EXISTS (SELECT 1 FROM unnest(i.indoption) o WHERE o <> 0)
        AND NOT EXISTS (SELECT 1 FROM unnest(i.indclass) oc JOIN pg_opclass c ON c.oid = oc
                        WHERE NOT c.opcdefault)),
       ARRAY(SELECT a.attname FROM pg_depend d
             JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
             WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
               AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
             UNION
             SELECT a.attname FROM unnest(i.indkey) k
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
WHERE i.indrelid = ANY(%s)
"""

_CONSTRAINTS = """
SELECT con.conrelid, con.conname, con.contype, pg_get_constraintdef(con.oid), con.convalidated,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) k
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k),
       ci.relname
FROM pg_constraint con
LEFT JOIN pg_class ci ON ci.oid = con.conindid AND con.contype IN ('p', 'u', 'x')
WHERE con.conrelid = ANY(%s)
"""

_TRIGGERS = "SELECT tgrelid, tgname FROM pg_trigger WHERE tgrelid = ANY(%s) AND NOT tgisinternal"

_VIEWS = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('v', 'm', 'S', 'f')
"""


def introspect(conn: psycopg.Connection[Any], schema: str) -> Schema:
    out = Schema(name=schema, server_version=conn.info.server_version)
    by_oid: dict[int, Table] = {}
    for oid, name, kind, rows in conn.execute(_TABLES, (schema,)):
        table = Table(name=name, kind=kind, estimated_rows=int(rows))
        by_oid[oid] = table
        out.tables[name] = table
    out.views = {r[0] for r in conn.execute(_VIEWS, (schema,))}
    oids = list(by_oid)
    if not oids:
        return out
    for rel, name, typ, nullable, default, identity, generated in conn.execute(_COLUMNS, (oids,)):
        by_oid[rel].columns[name] = Column(
            name, typ, bool(nullable), default, str(identity or ""), bool(generated)
        )
    for rel, name, unique, primary, valid, definition, predicate, keys, plain, uses in conn.execute(
        _INDEXES, (oids,)
    ):
        by_oid[rel].indexes[name] = Index(
            name,
            [_unquote(k) for k in keys],
            unique,
            primary,
            valid,
            definition,
            predicate,
            bool(plain),
            sorted(uses),
        )
    for rel, name, kind, definition, validated, columns, index in conn.execute(
        _CONSTRAINTS, (oids,)
    ):
        by_oid[rel].constraints[name] = Constraint(
            name, str(kind), list(columns), definition, bool(validated), index
        )
    for rel, name in conn.execute(_TRIGGERS, (oids,)):
        by_oid[rel].triggers.append(name)
    return out


def _unquote(key: str) -> str:
    if len(key) >= 2 and key[0] == key[-1] == '"':
        return key[1:-1].replace('""', '"')
    return key
