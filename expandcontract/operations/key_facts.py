"""What converting a primary key or identity needs from the live database at planning time
(the foreign keys that reference the primary key, the sequence behind the column) and the
statements that re-create them on the twin."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import psycopg
from psycopg import sql

from expandcontract.operations import ddl
from expandcontract.operations.base import (
    CATALOG,
    NONBLOCKING_LOCK_TIMEOUT_MS,
    SCAN,
    MigrationInvalid,
    PlannedStep,
)
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.expressions import catalog_sql

_NOT_VALID = re.compile(r"\s+NOT VALID\s*$")

_FOREIGN_KEYS = """
WITH fk AS (
    SELECT con.*,
           ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
                 ORDER BY k.ord) AS columns,
           ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
                 JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num
                 ORDER BY k.ord) AS referenced
    FROM pg_constraint con
    WHERE con.contype = 'f' AND con.confrelid = %(table)s::regclass AND con.conparentid = 0
      AND con.conindid = (SELECT indexrelid FROM pg_index
                          WHERE indrelid = %(table)s::regclass AND indisprimary)
)
SELECT fk.conname::text, n.nspname::text, c.relname::text, c.relkind::text, fk.columns,
       fk.referenced, pg_get_constraintdef(fk.oid),
       'REFERENCES ' || fk.confrelid::regclass::text || '('
           || array_to_string(ARRAY(SELECT quote_ident(r) FROM unnest(fk.referenced) r), ', ')
           || ')',
       fk.convalidated
FROM fk
JOIN pg_class c ON c.oid = fk.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
ORDER BY 2, 3, 1
"""

_SEQUENCE = """
SELECT n.nspname::text, c.relname::text, format_type(s.seqtypid, NULL), s.seqstart,
       s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE s.seqrelid = {}
"""


@dataclasses.dataclass(frozen=True)
class ForeignKey:
    """A foreign key that references the primary key being converted."""

    name: str
    schema: str
    table: str
    columns: list[str]  # referencing columns
    referenced: list[str]  # the primary key's columns, in the foreign key's order
    rest: str  # what follows the referenced columns: MATCH, ON DELETE/UPDATE, DEFERRABLE
    validated: bool


@dataclasses.dataclass(frozen=True)
class SequenceFacts:
    schema: str
    name: str
    type: str
    start: int
    increment: int
    minimum: int
    maximum: int
    cache: int
    cycle: bool


def read_foreign_keys(conn: psycopg.Connection[Any], table: str, where: str) -> list[ForeignKey]:
    """``table``: the qualified, quoted table name."""
    out = []
    for row in conn.execute(_FOREIGN_KEYS, {"table": table}).fetchall():
        name, schema, child, kind, columns, referenced, definition, prefix, validated = row
        if kind == "p":
            raise MigrationInvalid(
                f"{where}: foreign key {name!r} of partitioned table {schema}.{child} references "
                "this primary key: converting it is not supported",
            )
        at = definition.find(prefix)
        if at < 0:
            raise MigrationInvalid(
                f"{where}: cannot read foreign key {name!r} ({definition}) to re-create it"
            )
        rest = _NOT_VALID.sub("", definition[at + len(prefix) :])
        out.append(
            ForeignKey(name, schema, child, list(columns), list(referenced), rest, validated)
        )
    return out


def read_sequence(
    conn: psycopg.Connection[Any], table: str, column: str, name: str | None
) -> SequenceFacts | None:
    """The identity's sequence (``name`` None) or the one a serial default calls."""
    if name is None:
        source = "pg_get_serial_sequence(%s, %s)::regclass"
        params: tuple[str, ...] = (table, column)
    else:
        source, params = "to_regclass(%s)", (name,)
    row = conn.execute(sql.SQL(_SEQUENCE).format(sql.SQL(source)), params).fetchone()
    return SequenceFacts(*row) if row else None


def copy_name(fk: ForeignKey) -> str:
    """The name twin_objects gives a copied constraint: a converted child's copy and ours are
    the same object, renamed to the original name after the child's swap."""
    return ddl.object_name("_ec_new", fk.name, suffix="con")


def foreign_key_copy(
    ctx: PhaseContext, fk: ForeignKey, table: str, columns: list[str], referenced: list[str]
) -> list[PlannedStep]:
    """``fk`` again, from ``columns`` to ``table(referenced)`` (the twin's unique index), with
    its actions: NOT VALID (catalog-only), then VALIDATE while writes go on."""
    child, copy = sql.Identifier(fk.schema, fk.table), sql.Identifier(copy_name(fk))
    steps = [
        PlannedStep(
            f"fk:{fk.schema}.{fk.table}.{fk.name}",
            f"foreign key {fk.name} copied onto the twin of {table} NOT VALID",
            (
                sql.SQL(
                    "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}, ADD CONSTRAINT {} "
                    "FOREIGN KEY ({}) REFERENCES {} ({}){} NOT VALID"
                ).format(
                    child,
                    copy,
                    copy,
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                    ctx.table_ref(table),
                    sql.SQL(", ").join(map(sql.Identifier, referenced)),
                    catalog_sql(fk.rest),
                ),
            ),
            "SHARE ROW EXCLUSIVE",
            CATALOG,
        )
    ]
    if fk.validated:  # an FK that was NOT VALID stays so
        steps.append(
            PlannedStep(
                f"fk:{fk.schema}.{fk.table}.{fk.name}:validate",
                f"validate {copy_name(fk)} (scans {fk.table}; writes go on)",
                (sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(child, copy),),
                "SHARE UPDATE EXCLUSIVE",
                SCAN,
                statement_timeout_ms=0,
                lock_timeout_ms=NONBLOCKING_LOCK_TIMEOUT_MS,
            )
        )
    return steps


_LIMITS = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}


def temporary_sequence(seq: SequenceFacts) -> str:
    return ddl.object_name("_ec_new", seq.name, suffix="seq")


def identity_statements(
    ctx: PhaseContext, table: str, twin: str, kind: str, seq: SequenceFacts
) -> list[sql.SQL | sql.Composed]:
    """An identity's sequence cannot change owner: the twin gets a new one, with the old
    one's options, continuing where the old one was (read under the swap's lock)."""
    low, high = _LIMITS[seq.type]
    ascending = seq.increment > 0
    temporary = sql.Identifier(ctx.schema, temporary_sequence(seq))
    options = [
        sql.SQL("SEQUENCE NAME {}").format(temporary),
        sql.SQL("INCREMENT BY {}").format(sql.Literal(seq.increment)),
        # Bounds at the old type's defaults become the new type's defaults.
        sql.SQL("NO MINVALUE")
        if seq.minimum == (1 if ascending else low)
        else sql.SQL("MINVALUE {}").format(sql.Literal(seq.minimum)),
        sql.SQL("NO MAXVALUE")
        if seq.maximum == (high if ascending else -1)
        else sql.SQL("MAXVALUE {}").format(sql.Literal(seq.maximum)),
        sql.SQL("START WITH {}").format(sql.Literal(seq.start)),
        sql.SQL("CACHE {}").format(sql.Literal(seq.cache)),
        sql.SQL("CYCLE" if seq.cycle else "NO CYCLE"),
    ]
    return [
        sql.SQL("ALTER TABLE {} ALTER COLUMN {} ADD GENERATED {} AS IDENTITY ({})").format(
            ctx.table_ref(table), sql.Identifier(twin), sql.SQL(kind), sql.SQL(" ").join(options)
        ),
        sql.SQL("SELECT pg_catalog.setval({}::regclass, last_value, is_called) FROM {}").format(
            sql.Literal(temporary.as_string(None)), sql.Identifier(seq.schema, seq.name)
        ),
    ]
