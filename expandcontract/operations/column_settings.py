"""What a user configured on a column beyond its definition, carried onto its twin: privileges,
comment, statistics target and options, storage, compression and collation (the last three only
where the new type allows them). The twin becomes the column at contract, so the final column
has them all; and the NOT NULL constraint name PostgreSQL (18+) would give it.
"""

from __future__ import annotations

from psycopg import sql

from expandcontract.operations.expressions import catalog_sql
from expandcontract.schema.model import Column, Grant, Schema, TypeTraits

_STORAGE = {"p": "PLAIN", "e": "EXTERNAL", "m": "MAIN", "x": "EXTENDED"}
_COMPRESSION = {"p": "pglz", "l": "lz4"}
_NAMEDATALEN = 64


def collate_clause(source: Column, traits: TypeTraits | None) -> sql.Composable:
    """`` COLLATE x`` for a twin of a column with an explicit collation, if the new type has
    collations (unknown traits: none, so the statement is always valid)."""
    if source.collation and traits is not None and traits.collatable:
        return sql.SQL(" COLLATE {}").format(catalog_sql(source.collation))
    return sql.SQL("")


def copy_statements(
    table: sql.Identifier,
    column: str,
    source: Column,
    traits: TypeTraits | None,
    grants: list[Grant],
) -> list[sql.Composed]:
    """Statements giving ``column`` what ``source`` has (catalog-only, no scan)."""
    col = sql.Identifier(column)
    actions: list[sql.Composable] = []
    if source.statistics is not None:
        actions.append(sql.SQL("SET STATISTICS {}").format(sql.Literal(source.statistics)))
    if source.options:
        pairs = [option.partition("=") for option in source.options]
        actions.append(
            sql.SQL("SET ({})").format(
                sql.SQL(", ").join(
                    sql.SQL("{} = {}").format(sql.Identifier(key), sql.Literal(value))
                    for key, _, value in pairs
                )
            )
        )
    if traits is not None and traits.toastable:  # other types only take PLAIN, no compression
        if source.storage:
            actions.append(sql.SQL("SET STORAGE {}").format(sql.SQL(_STORAGE[source.storage])))
        if source.compression:
            actions.append(
                sql.SQL("SET COMPRESSION {}").format(sql.SQL(_COMPRESSION[source.compression]))
            )
    statements: list[sql.Composed] = []
    if actions:
        statements.append(
            sql.SQL("ALTER TABLE {} {}").format(
                table,
                sql.SQL(", ").join(sql.SQL("ALTER COLUMN {} {}").format(col, a) for a in actions),
            )
        )
    if source.comment is not None:
        statements.append(
            sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(table, col, sql.Literal(source.comment))
        )
    statements += grant_statements(table, {column: grants})
    return statements


def grant_statements(
    relation: sql.Identifier, grants: dict[str, list[Grant]], *, privileges: set[str] | None = None
) -> list[sql.Composed]:
    """Column privileges as GRANT statements, one per role and grant option:
    ``GRANT SELECT (a, b), UPDATE (b) ON rel TO role``."""
    by_grantee: dict[tuple[str, bool], dict[str, list[str]]] = {}
    for column, column_grants in grants.items():
        for grant in column_grants:
            if privileges is None or grant.privilege in privileges:
                columns = by_grantee.setdefault((grant.role, grant.grantable), {})
                columns.setdefault(grant.privilege, []).append(column)
    out: list[sql.Composed] = []
    for (role, grantable), by_privilege in sorted(by_grantee.items()):
        out.append(
            sql.SQL("GRANT {} ON {} TO {}{}").format(
                sql.SQL(", ").join(
                    sql.SQL("{} ({})").format(
                        sql.SQL(privilege), sql.SQL(", ").join(map(sql.Identifier, columns))
                    )
                    for privilege, columns in sorted(by_privilege.items())
                ),
                relation,
                sql.SQL("PUBLIC") if role == "PUBLIC" else sql.Identifier(role),
                sql.SQL(" WITH GRANT OPTION" if grantable else ""),
            )
        )
    return out


def object_name(name1: str, name2: str, label: str) -> str:
    """PostgreSQL's makeObjectName: ``name1_name2_label`` in 63 bytes, shortening the longer
    of the two names first, cut on a character boundary."""
    first, second = name1.encode(), name2.encode()
    available = _NAMEDATALEN - 1 - (len(label.encode()) + 2)
    n1, n2 = len(first), len(second)
    while n1 + n2 > available:
        if n1 > n2:
            n1 -= 1
        else:
            n2 -= 1
    head = first[:n1].decode(errors="ignore")
    tail = second[:n2].decode(errors="ignore")
    return f"{head}_{tail}_{label}"


def choose_constraint_name(name1: str, name2: str, label: str, taken: set[str]) -> str:
    """PostgreSQL's ChooseConstraintName: the first of label, label1, label2, … not taken."""
    candidate, attempt = object_name(name1, name2, label), 0
    while candidate in taken:
        attempt += 1
        candidate = object_name(name1, name2, f"{label}{attempt}")
    return candidate


def constraint_names(schema: Schema) -> set[str]:
    """Constraint names in the schema (PostgreSQL picks names unique per schema)."""
    return {name for table in schema.tables.values() for name in table.constraints}
