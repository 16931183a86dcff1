from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import COMPAT, Rule

_HARMLESS = {"INDEX", "CONSTRAINT"}
_ROUTINES = {"FUNCTION", "PROCEDURE", "AGGREGATE", "ROUTINE"}


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    obj = op.detail.get("object", "")
    if op.kind != K.RENAME_OBJECT or obj in _HARMLESS or ctx.is_new(op.table):
        return None
    if obj in _ROUTINES:
        # calls written as text look the routine up by name; stored references (triggers,
        # defaults, views) hold its OID and follow the rename
        return (
            f"renaming {obj.lower()} {op.table} to {op.name}: every call by the old name fails "
            "(application queries, other functions' bodies)"
        )
    return f"RENAME of {obj.lower()} {op.table}: clients referring to the old name break"


RULE = Rule(
    id="renaming-object",
    severity="warning",
    summary="renaming a schema, type, enum value, view, sequence or function",
    why="Clients (and stored code) that refer to the old name break immediately. A function or "
    "procedure called by name in SQL text is looked up at each call, so renaming one breaks "
    "every such caller: application queries and the bodies of other functions. (Triggers, "
    "column defaults and views store the function itself and follow the rename.)",
    suggestion="Add the new object, migrate users of the old one, drop it in a later contract "
    "(ec sql on: expand / on: contract).",
    equivalents={
        "squawk": ["renaming-object"],
        "strong_migrations": ["rename_schema", "rename_enum_value"],
    },
    check=check,
    kinds=frozenset({K.RENAME_OBJECT}),
    tags=(COMPAT,),
    bad="ALTER SCHEMA app RENAME TO app_old;",
    good="ALTER INDEX users_email_idx RENAME TO users_email_key_idx;",
)
