from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import Rule

_DESTRUCTIVE = {
    K.DROP_COLUMN,
    K.DROP,
    K.RENAME_COLUMN,
    K.RENAME_TABLE,
    K.RENAME_OBJECT,
    K.DROP_CONSTRAINT,
    K.DROP_NOT_NULL,
    K.TRUNCATE,
    K.SET_SCHEMA,
}


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if ctx.phase != "expand" or op.kind not in _DESTRUCTIVE or ctx.is_new(op.table):
        return None
    if "replaced_at" in op.detail:  # dropped and re-created atomically: nothing disappears
        return None
    return (
        f"{op.kind.replace('_', ' ')} in an expand migration: expand must stay "
        "compatible with the running version"
    )


RULE = Rule(
    id="expand-phase-destructive",
    severity="error",
    summary="drop or rename in an expand-phase migration",
    why="Expand runs while the old version is live: anything it drops or renames breaks that "
    "version immediately.",
    suggestion="Move the drop/rename to the contract phase (ec drop_column / rename_column do "
    "the split for you).",
    equivalents={"atlas": ["BC101", "BC102", "DS103"]},
    check=check,
    kinds=frozenset(_DESTRUCTIVE),
    bad="-- ec:phase expand\nALTER TABLE users DROP COLUMN legacy;",
    good="-- ec:phase contract\nALTER TABLE users DROP COLUMN legacy;",
)
