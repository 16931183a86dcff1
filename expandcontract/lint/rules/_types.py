"""Column types that a statement introduces (CREATE TABLE, ADD COLUMN, ALTER … TYPE).

Rules compare canonical PostgreSQL types (``integer`` whether written int, int4 or integer) and
quote the type as the user wrote it.
"""

from __future__ import annotations

from expandcontract.lint.ir import ColumnSpec, K, Op
from expandcontract.lint.pgtypes import PgType, from_text

NEW_COLUMN_KINDS = frozenset({K.CREATE_TABLE, K.ADD_COLUMN, K.ALTER_TYPE})


def new_columns(op: Op) -> list[tuple[str, str]]:
    """(column name, type as written) pairs ``op`` introduces."""
    return [(c.name, c.type) for c in _introduced(op)]


def _introduced(op: Op) -> tuple[ColumnSpec, ...]:
    if op.kind == K.CREATE_TABLE:
        return op.columns
    if op.kind in (K.ADD_COLUMN, K.ALTER_TYPE) and op.column:
        return (op.column,)
    return ()


def canonical(column: ColumnSpec) -> PgType:
    return column.pgtype or from_text(column.type)


def columns_of_type(op: Op, names: frozenset[str], *, with_modifiers: bool = False) -> list[str]:
    """The "name type-as-written" of each column ``op`` introduces whose canonical type (or,
    for serials, the pseudo-type written) is in ``names`` (and, ``with_modifiers``, has
    some: varchar(20), not varchar)."""
    return [
        f"{c.name} {c.type}"
        for c in _introduced(op)
        if canonical(c).name in names and (canonical(c).modifiers or not with_modifiers)
    ]


def specs(op: Op) -> tuple[ColumnSpec, ...]:
    if op.kind == K.CREATE_TABLE:
        return op.columns
    return (op.column,) if op.kind == K.ADD_COLUMN and op.column else ()
