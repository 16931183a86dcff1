from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import COMPAT, Rule

_OBJECTS = {
    "VIEW",
    "MATERIALIZED VIEW",
    "FUNCTION",
    "PROCEDURE",
    "TYPE",
    "SEQUENCE",
    "DOMAIN",
    "EXTENSION",
    "TRIGGER",
}


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    obj = op.detail.get("object", "")
    if op.kind != K.DROP or obj not in _OBJECTS or ctx.is_new(op.table):
        return None
    if "replaced_at" in op.detail:  # re-created in the same transaction: a replacement
        return None
    name = f"{op.name} ON {op.table}" if op.detail.get("on") else op.table
    return f"DROP {obj} {name}: clients and stored code that use it break"


RULE = Rule(
    id="ban-drop-object",
    severity="warning",
    summary="DROP VIEW / FUNCTION / TYPE / SEQUENCE / DOMAIN / EXTENSION / TRIGGER",
    why="Whatever still uses the object (queries, defaults, other functions, triggers) fails.",
    suggestion="Drop it in a contract phase once nothing uses it (ec sql on: contract).",
    equivalents={
        "squawk": [
            "ban-drop-view",
            "ban-drop-function",
            "ban-drop-type",
            "ban-drop-sequence",
            "ban-drop-domain",
            "ban-drop-extension",
            "ban-drop-trigger",
        ]
    },
    check=check,
    kinds=frozenset({K.DROP}),
    tags=(COMPAT,),
    bad="DROP VIEW active_users;",
    good="CREATE VIEW v AS SELECT 1;\nDROP VIEW v;",
)
