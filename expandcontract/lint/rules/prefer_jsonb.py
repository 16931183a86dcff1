from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._types import NEW_COLUMN_KINDS, canonical
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    columns = op.columns if op.kind == K.CREATE_TABLE else (op.column,) if op.column else ()
    if op.kind not in (K.CREATE_TABLE, K.ADD_COLUMN, K.ALTER_TYPE):
        return None
    if op.kind == K.ALTER_TYPE and op.column and canonical(op.column).name == "json":
        return f"column {op.column.name} becomes json: it has no equality operator"
    bad = [c.name for c in columns if c and canonical(c).name == "json"]
    return f"json column {', '.join(bad)} has no equality operator" if bad else None


RULE = Rule(
    id="prefer-jsonb",
    severity="warning",
    summary="json column instead of jsonb",
    why="json has no equality operator: SELECT DISTINCT, UNION and GROUP BY on the table fail.",
    suggestion="Use jsonb.",
    equivalents={"strong_migrations": ["add_column_json"], "eugene": ["E3"]},
    check=check,
    kinds=NEW_COLUMN_KINDS,
    bad="ALTER TABLE users ADD COLUMN prefs json;",
    good="ALTER TABLE users ADD COLUMN prefs jsonb;",
)
