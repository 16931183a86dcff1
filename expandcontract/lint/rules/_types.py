"""Column types that a statement introduces (CREATE TABLE, ADD COLUMN, ALTER … TYPE)."""

from __future__ import annotations

from expandcontract.lint.ir import ColumnSpec, K, Op

NEW_COLUMN_KINDS = frozenset({K.CREATE_TABLE, K.ADD_COLUMN, K.ALTER_TYPE})


def new_columns(op: Op) -> list[tuple[str, str]]:
    """(column name, type) pairs ``op`` introduces."""
    if op.kind == K.CREATE_TABLE:
        return [(c.name, c.type) for c in op.columns]
    if op.kind == K.ADD_COLUMN and op.column:
        return [(op.column.name, op.column.type)]
    if op.kind == K.ALTER_TYPE and op.column:
        return [(op.column.name, op.detail.get("new_type", ""))]
    return []


def specs(op: Op) -> tuple[ColumnSpec, ...]:
    if op.kind == K.CREATE_TABLE:
        return op.columns
    return (op.column,) if op.kind == K.ADD_COLUMN and op.column else ()
