from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import COMPAT, Rule

_OBJECTS = {
    "VIEW",
    "MATERIALIZED VIEW",
    "FUNCTION",
    "PROCEDURE",
    "AGGREGATE",
    "ROUTINE",
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
    if obj == "TRIGGER":
        # nothing calls a trigger by name: dropping it changes what writes do, breaks no query
        on = f" ON {op.table}" if op.detail.get("on") else ""
        return (
            f"DROP TRIGGER {op.name}{on}: a behaviour change, not a breakage — from now on "
            "writes no longer run its function (audit rows, derived values, checks it "
            "enforced stop); make sure nothing still relies on them"
        )
    return f"DROP {obj} {op.table}: clients and stored code that use it break"


RULE = Rule(
    id="ban-drop-object",
    severity="warning",
    summary="DROP VIEW / FUNCTION / TYPE / SEQUENCE / DOMAIN / EXTENSION / TRIGGER",
    why="Whatever still uses the object (queries, defaults, other functions, triggers) fails. "
    "A dropped trigger breaks no query: what changes is behaviour — the work it did on every "
    "write (audit rows, derived values, checks) silently stops.",
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
