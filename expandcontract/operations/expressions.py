"""User-written SQL expressions (up, down, defaults, predicates): parsing and renaming.

Expressions are SQL by nature, so they enter statements as fragments; they are checked by
PostgreSQL itself (EXPLAIN in a rolled-back transaction) before any DDL runs.
"""

from __future__ import annotations

from psycopg import sql

from expandcontract.operations.base import MigrationInvalid


def fragment(text: str) -> sql.SQL:
    """A validated user expression as a SQL fragment (never an identifier: those are quoted)."""
    return sql.SQL(text)


def rename_columns(expression: str, mapping: dict[str, str], *, where: str) -> str:
    """Rewrite column references through ``mapping`` (logical -> physical), using sqlglot's
    parser rather than string replacement, so literals and function names are left alone."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        tree = sqlglot.parse_one(expression, read="postgres")
    except ParseError as exc:
        raise MigrationInvalid(f"{where}: cannot parse {expression!r}: {exc}") from None

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name in mapping:
            return exp.column(mapping[node.name], quoted=True)
        return node

    if all(k == v for k, v in mapping.items()):
        return expression
    return tree.transform(swap).sql(dialect="postgres")


def referenced_columns(expression: str, names: set[str]) -> set[str] | None:
    """Which of ``names`` an expression reads (unqualified column references), or None when it
    cannot be told (then callers must assume it reads everything)."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        tree = sqlglot.parse_one(expression, read="postgres")
    except ParseError:
        return None
    found = {c.name for c in tree.find_all(exp.Column) if not c.table and c.name in names}
    return found
