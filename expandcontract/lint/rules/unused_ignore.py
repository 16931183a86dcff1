from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import Op, Statement
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    return None  # reported by the engine, which knows what each ignore suppressed


RULE = Rule(
    id="unused-ignore",
    severity="info",
    summary="ec:ignore that suppresses nothing",
    why="Stale suppressions hide future problems on the same statement.",
    suggestion="Remove the ec:ignore comment.",
    equivalents={"squawk": ["unused-ignore"]},
    check=check,
    bad="-- ec:ignore ban-drop-table reviewed\nCREATE TABLE t (id bigint);",
    good="CREATE TABLE t (id bigint);",
)
