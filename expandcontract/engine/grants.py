"""What a migration carries over that introspection of the tables does not hold: who may use
the base schema, its tables and their columns (the new version's views grant the same, a twin
column gets its column's privileges), and the traits of the types twins are created with (which
of the column's settings the new type can keep)."""

from __future__ import annotations

from typing import Any

import psycopg

from expandcontract.operations.context import PhaseContext
from expandcontract.schema.model import Grant, TypeTraits

_SCHEMA_USAGE = """
SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END
FROM pg_namespace n, aclexplode(n.nspacl) a
WHERE n.nspname = %s AND a.privilege_type = 'USAGE' AND a.grantee <> n.nspowner
ORDER BY 1
"""
_TABLE_GRANTS = """
SELECT c.relname, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
       a.privilege_type
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND a.grantee <> c.relowner
  AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
ORDER BY 1, 2, 3
"""
# Column privileges (GRANT SELECT (a, b) …): SELECT, INSERT, UPDATE, REFERENCES.
_COLUMN_GRANTS = """
SELECT c.relname, att.attname,
       CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
       a.privilege_type, a.is_grantable
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute att ON att.attrelid = c.oid AND att.attnum > 0 AND NOT att.attisdropped,
     aclexplode(att.attacl) a
WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND a.grantee <> c.relowner
ORDER BY 1, 2, 3, 4
"""
_TYPE_TRAITS = """
SELECT t.typstorage, t.typcollation <> 0 FROM pg_type t WHERE t.oid = to_regtype(%s)
"""


def read_carried_over(conn: psycopg.Connection[Any], ctx: PhaseContext) -> None:
    """Fill ``ctx`` with the base schema's privileges and the twins' type traits (catalog
    reads only; runs after validation, so every type name resolves)."""
    ctx.schema_usage = [str(r[0]) for r in conn.execute(_SCHEMA_USAGE, (ctx.schema,))]
    for table, role, privilege in conn.execute(_TABLE_GRANTS, (ctx.schema,)):
        ctx.table_grants.setdefault(str(table), []).append((str(role), str(privilege)))
    for table, column, role, privilege, grantable in conn.execute(_COLUMN_GRANTS, (ctx.schema,)):
        ctx.column_grants.setdefault((str(table), str(column)), []).append(
            Grant(str(role), str(privilege), bool(grantable))
        )
    twin_types = {
        column.type
        for table in ctx.state.tables.values()
        for column in table.columns.values()
        if column.origin == "duplicated"
    }
    for type_ in sorted(twin_types):
        row = conn.execute(_TYPE_TRAITS, (type_,)).fetchone()
        if row is not None:
            ctx.type_traits[type_] = TypeTraits(str(row[0]), bool(row[1]))
