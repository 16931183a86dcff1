"""Derived columns: every column one version computes from the other version's row while both
run (``up`` of alter_column and add_column, ``down`` of alter_column and drop_column).

The rule a migration must keep: a derived column is recomputed whenever a column its expression
reads changes, whichever version changes it. So after a write by the *source* version that
changed such a column (or inserted the row), the *target* version reads exactly the expression
evaluated over the source version's row as it is now.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import MetaData, Table

from expandcontract.operations.expressions import expression_sql, referenced_columns
from expandcontract.verify.compare import show
from expandcontract.verify.mapping import VersionMap
from expandcontract.verify.tracker import Key


@dataclasses.dataclass(frozen=True)
class Derivation:
    """``column`` of the target version, computed by ``expression`` over the source version's
    row (in the source version's names)."""

    source: str  # old | new: the version whose writes recompute it
    old_table: str
    new_table: str
    column: str  # in the target version's names
    expression: str
    operation: str  # alter_column | add_column | drop_column
    reads: frozenset[str] | None  # source-version columns it reads; None: cannot be told

    @property
    def target(self) -> str:
        return "new" if self.source == "old" else "old"

    @property
    def direction(self) -> str:
        return "up" if self.source == "old" else "down"

    def table(self, version: str) -> str:
        return self.old_table if version == "old" else self.new_table

    @property
    def name(self) -> str:
        """``users.email_domain`` in the target version's names."""
        return f"{self.table(self.target)}.{self.column}"

    def describe(self) -> str:
        """``add_column up `split_part(email, '@', 2)```"""
        return f"{self.operation} {self.direction} `{self.expression}`"

    def reads_any(self, columns: set[str] | Any) -> bool:
        return self.reads is None or bool(self.reads & set(columns))


def derivations(vmap: VersionMap, old_md: MetaData, new_md: MetaData) -> list[Derivation]:
    """Every derivation between tables both versions declare, for columns the target declares."""
    out: list[Derivation] = []
    for link in vmap.tables.values():
        old_t, new_t = old_md.tables.get(link.old), new_md.tables.get(link.new)
        if old_t is None or new_t is None:
            continue
        names = {"old": set(old_t.columns.keys()), "new": set(new_t.columns.keys())}
        found: list[tuple[str, str, str, str]] = []  # source, column, expression, operation
        for c in link.columns:
            if c.up and c.new in names["new"]:
                found.append(("old", c.new, c.up, "alter_column"))
            if c.up and c.old in names["old"]:
                # a twin without `down` hands the new value over as it is
                down = c.down or sql.Identifier(c.new).as_string(None)
                found.append(("new", c.old, down, "alter_column"))
        found += [
            ("old", name, up, "add_column")
            for name, up in link.added_up.items()
            if name in names["new"]
        ]
        found += [
            ("new", name, down, "drop_column")
            for name, down in link.dropped.items()
            if down is not None and name in names["old"]
        ]
        for source, column, expression, operation in found:
            reads = referenced_columns(expression, names[source])
            frozen = frozenset(reads) if reads is not None else None
            out.append(
                Derivation(source, link.old, link.new, column, expression, operation, frozen)
            )
    return out


@dataclasses.dataclass(frozen=True)
class Schemas:
    """Where each version reads: its schema and its MetaData."""

    old: str
    new: str
    old_md: MetaData
    new_md: MetaData

    def schema(self, version: str) -> str:
        return self.old if version == "old" else self.new

    def table(self, version: str, name: str) -> Table:
        return (self.old_md if version == "old" else self.new_md).tables[name]


class ExpressionFailed(Exception):
    """The derivation's expression raises on a row: which row, with which values."""

    def __init__(self, derivation: Derivation, key: Key, values: dict[str, Any], error: Any):
        super().__init__(str(error))
        self.derivation, self.key, self.values, self.error = derivation, key, values, error

    def describe(self, schemas: Schemas) -> str:
        from expandcontract.verify import explain  # explain builds on this module

        d = self.derivation
        source = schemas.table(d.source, d.table(d.source))
        target = schemas.table(d.target, d.table(d.target))
        return explain.stored_failure(d, self.key, self.values, self.error, source, target)


def _pk(table: Table) -> list[str]:
    return [c.name for c in table.primary_key.columns]


def _where_keys(pk: list[str], keys: list[Key]) -> tuple[sql.Composable, list[Any]]:
    if len(pk) == 1:
        return sql.SQL("{} = ANY(%s)").format(sql.Identifier(pk[0])), [[k[0] for k in keys]]
    rows = sql.SQL(", ").join(
        sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() for _ in pk)) for _ in keys
    )
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in pk)
    return sql.SQL("({}) IN (VALUES {})").format(cols, rows), [v for k in keys for v in k]


def _fetch(
    conn: psycopg.Connection[Any],
    schema: str,
    table: Table,
    columns: list[sql.Composable],
    keys: list[Key],
) -> dict[Key, tuple[Any, ...]]:
    pk = _pk(table)
    where, params = _where_keys(pk, keys)
    query = sql.SQL("SELECT {}, {} FROM {} WHERE {}").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in pk),
        sql.SQL(", ").join(columns),
        sql.Identifier(schema, table.name),
        where,
    )
    with conn.transaction():
        rows = conn.execute(query, params).fetchall()
    return {tuple(r[: len(pk)]): tuple(r[len(pk) :]) for r in rows}


def evaluate(
    conn: psycopg.Connection[Any], d: Derivation, keys: list[Key], schemas: Schemas
) -> dict[Key, tuple[Any, Any]]:
    """(expected, stored) of ``d`` for the rows ``keys`` that both versions see; raises
    :class:`ExpressionFailed` naming a row the expression fails on."""
    if not keys:
        return {}
    source = schemas.table(d.source, d.table(d.source))
    target = schemas.table(d.target, d.table(d.target))
    # the migration's own expression, checked to be exactly one expression
    expr = sql.SQL("({})").format(expression_sql(d.expression))
    try:
        expected = _fetch(conn, schemas.schema(d.source), source, [expr], keys)
    except psycopg.Error:
        raise _failing_row(conn, d, keys, schemas, source, expr) from None
    stored = _fetch(conn, schemas.schema(d.target), target, [sql.Identifier(d.column)], keys)
    return {k: (expected[k][0], stored[k][0]) for k in keys if k in expected and k in stored}


def _failing_row(
    conn: psycopg.Connection[Any],
    d: Derivation,
    keys: list[Key],
    schemas: Schemas,
    source: Table,
    expr: sql.Composable,
) -> ExpressionFailed:
    """The first row the expression fails on, with the values it reads."""
    schema = schemas.schema(d.source)
    reads = sorted(d.reads or [])
    for key in keys:
        try:
            _fetch(conn, schema, source, [expr], [key])
        except psycopg.Error as exc:
            values: dict[str, Any] = {}
            if reads:
                row = _fetch(conn, schema, source, [sql.Identifier(c) for c in reads], [key])
                values = dict(zip(reads, row.get(key, ()), strict=False))
            return ExpressionFailed(d, key, values, exc)
    return ExpressionFailed(d, keys[0], {}, "the expression fails on these rows")


def shown_values(d: Derivation, values: dict[str, Any]) -> str:
    table = d.table(d.source)
    return ", ".join(f"{table}.{c} = {show(v)}" for c, v in values.items()) or "its row"
