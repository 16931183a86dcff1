from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind != K.UNKNOWN or stmt.unparsed_reason:
        return None
    return (
        f"ec lint cannot analyse this statement ({op.detail.get('reason', 'unknown form')}); "
        "review its locks by hand"
    )


RULE = Rule(
    id="unanalysed-statement",
    severity="warning",
    summary="statement the linter cannot analyse",
    why="A statement the linter does not understand may take any lock; silence would be a lie.",
    suggestion="Review it by hand and suppress with -- ec:ignore unanalysed-statement <reason>, "
    "or express it as an ec operation.",
    equivalents={"strong_migrations": ["execute"]},
    check=check,
    kinds=frozenset({K.UNKNOWN}),
    bad="FROBNICATE users;",
    good="ANALYZE users;",
)
