from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.UPDATE and op.detail.get("duplicate_assignments"):
        return f"UPDATE assigns {op.detail['duplicate_assignments']} more than once"
    if op.kind == K.CREATE_TABLE:
        names = [c.name for c in op.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            return f"CREATE TABLE defines column {', '.join(dupes)} more than once"
    return None


RULE = Rule(
    id="duplicate-column-assignments",
    severity="error",
    summary="column defined or assigned twice",
    why="PostgreSQL rejects the statement, failing the migration.",
    suggestion="Remove the duplicate.",
    equivalents={"squawk": ["ban-duplicate-column-assignments"]},
    check=check,
    kinds=frozenset({K.UPDATE, K.CREATE_TABLE}),
    bad="UPDATE users SET a = 1, a = 2 WHERE id = 1;",
    good="UPDATE users SET a = 1, b = 2 WHERE id = 1;",
)
