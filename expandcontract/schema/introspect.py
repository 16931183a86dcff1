"""Read a live schema from the catalogs into :mod:`expandcontract.schema.model`."""

from __future__ import annotations

from typing import Any

import psycopg

from expandcontract.schema.model import Column, Constraint, Index, Schema, Statistics, Table

_TABLES = """
SELECT c.oid, c.relname, c.relkind, greatest(c.reltuples, 0)::bigint, c.relrowsecurity
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p')
"""

_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated <> '',
       col_description(a.attrelid, a.attnum), NULLIF(a.attstattarget, -1)::integer,
       coalesce(a.attoptions, '{{}}'),
       CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage END,
       {compression},
       CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
            THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
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
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k),
       {nulls_not_distinct}, coalesce(ic.reloptions, '{{}}'), quote_ident(ts.spcname),
       obj_description(i.indexrelid, 'pg_class'), i.indisclustered, i.indisreplident
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_tablespace ts ON ts.oid = ic.reltablespace
WHERE i.indrelid = ANY(%s)
"""

_CONSTRAINTS = """
SELECT con.conrelid, con.conname, con.contype, pg_get_constraintdef(con.oid), con.convalidated,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) k
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k),
       ci.relname, con.condeferrable, con.condeferred, obj_description(con.oid, 'pg_constraint')
FROM pg_constraint con
LEFT JOIN pg_class ci ON ci.oid = con.conindid AND con.contype IN ('p', 'u', 'x')
WHERE con.conrelid = ANY(%s)
"""

_STATISTICS = """
SELECT s.stxrelid, s.stxname, n.nspname, s.stxkind::text[],
       ARRAY(SELECT a.attname FROM unnest(s.stxkeys) k
             JOIN pg_attribute a ON a.attrelid = s.stxrelid AND a.attnum = k),
       {expressions},
       ARRAY(SELECT a.attname FROM pg_depend d
             JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
             WHERE d.classid = 'pg_statistic_ext'::regclass AND d.objid = s.oid
               AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
             UNION
             SELECT a.attname FROM unnest(s.stxkeys) k
             JOIN pg_attribute a ON a.attrelid = s.stxrelid AND a.attnum = k),
       {target}, obj_description(s.oid, 'pg_statistic_ext')
FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace
WHERE s.stxrelid = ANY(%s)
ORDER BY s.stxname
"""
_STATISTICS_KINDS = {"d": "ndistinct", "f": "dependencies", "m": "mcv"}

_TRIGGERS = "SELECT tgrelid, tgname FROM pg_trigger WHERE tgrelid = ANY(%s) AND NOT tgisinternal"

_VIEWS = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('v', 'm', 'S', 'f')
"""


def introspect(conn: psycopg.Connection[Any], schema: str) -> Schema:
    out = Schema(name=schema, server_version=conn.info.server_version)
    by_oid: dict[int, Table] = {}
    for oid, name, kind, rows, row_security in conn.execute(_TABLES, (schema,)):
        table = Table(name, kind=kind, estimated_rows=int(rows), row_security=bool(row_security))
        by_oid[oid] = table
        out.tables[name] = table
    out.views = {r[0] for r in conn.execute(_VIEWS, (schema,))}
    oids = list(by_oid)
    if not oids:
        return out
    # attcompression exists since PostgreSQL 14.
    compression = "a.attcompression::text" if out.server_version >= 140000 else "''"
    columns = _COLUMNS.format(compression=compression)
    for row in conn.execute(columns, (oids,)):
        rel, name, typ, nullable, default, identity, generated = row[:7]
        comment, statistics, options, storage, method, collation = row[7:]
        by_oid[rel].columns[name] = Column(
            name,
            typ,
            bool(nullable),
            default,
            str(identity or ""),
            bool(generated),
            comment,
            statistics,
            list(options),
            storage,
            str(method or ""),
            collation,
        )
    version = out.server_version
    nulls = "i.indnullsnotdistinct" if version >= 150000 else "false"
    for row in conn.execute(_INDEXES.format(nulls_not_distinct=nulls), (oids,)):
        rel, name, unique, primary, valid, definition, predicate, keys, plain, uses = row[:10]
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
            *row[10:],
        )
    for row in conn.execute(_CONSTRAINTS, (oids,)):
        rel, name, kind, definition, validated, columns, index, deferrable, deferred, comment = row
        by_oid[rel].constraints[name] = Constraint(
            name, str(kind), list(columns), definition, bool(validated), index,
            bool(deferrable), bool(deferred), comment,
        )  # fmt: skip
    _read_statistics(conn, version, oids, by_oid)
    for rel, name in conn.execute(_TRIGGERS, (oids,)):
        by_oid[rel].triggers.append(name)
    return out


def _read_statistics(
    conn: psycopg.Connection[Any], version: int, oids: list[int], by_oid: dict[int, Table]
) -> None:
    if version < 140000:  # expression statistics and their catalog functions: 14+
        return
    query = _STATISTICS.format(
        expressions="coalesce(pg_get_statisticsobjdef_expressions(s.oid), '{}')",
        target="NULLIF(s.stxstattarget, -1)::integer",
    )
    for rel, name, schema, kinds, columns, expressions, uses, target, comment in conn.execute(
        query, (oids,)
    ):
        by_oid[rel].statistics.append(
            Statistics(
                name,
                schema,
                [_STATISTICS_KINDS[k] for k in kinds if k in _STATISTICS_KINDS],
                list(columns),
                list(expressions),
                sorted(uses),
                target,
                comment,
            )
        )


def _unquote(key: str) -> str:
    if len(key) >= 2 and key[0] == key[-1] == '"':
        return key[1:-1].replace('""', '"')
    return key
