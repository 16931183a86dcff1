from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._types import NEW_COLUMN_KINDS, new_columns
from expandcontract.lint.rules.base import Rule

_NAMED = {
    K.CREATE_TABLE,
    K.CREATE_INDEX,
    K.ADD_CONSTRAINT,
    K.RENAME_COLUMN,
    K.RENAME_TABLE,
    K.RENAME_OBJECT,
    K.CREATE_TRIGGER,
}


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    names = [n for n, _ in new_columns(op)]
    if op.kind in _NAMED:
        names += [op.name or "", (op.table or "").rsplit(".", 1)[-1]]
    if op.detail.get("constraint_names"):  # CONSTRAINT … inside CREATE TABLE
        names += op.detail["constraint_names"].split(",")
    long = [n for n in names if len(n.encode()) > 63]
    return f"identifier longer than 63 bytes is silently truncated: {long[0]}" if long else None


RULE = Rule(
    id="identifier-too-long",
    severity="warning",
    summary="identifier longer than 63 bytes",
    why="PostgreSQL truncates longer names silently, so two names can collide and later "
    "migrations cannot find the object by its written name.",
    suggestion="Use a name of at most 63 bytes.",
    equivalents={"squawk": ["identifier-too-long"]},
    check=check,
    kinds=frozenset(_NAMED) | NEW_COLUMN_KINDS,
    bad="CREATE TABLE " + "a" * 64 + " (id bigint);",
    good="CREATE TABLE accounts (id bigint);",
)
