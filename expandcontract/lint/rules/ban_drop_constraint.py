from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing
from expandcontract.lint.rules.base import COMPAT, Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.DROP_CONSTRAINT and existing(op, ctx) and op.name not in ctx.not_valid:
        return f"DROP CONSTRAINT {op.name} removes a guarantee running code may rely on"
    return None


RULE = Rule(
    id="ban-drop-constraint",
    severity="warning",
    summary="ALTER TABLE … DROP CONSTRAINT",
    why="Removing a constraint lets data in that the old code never had to handle.",
    suggestion="Use ec operation drop_constraint: the constraint binds the old version until "
    "contract drops it, e.g. `drop_constraint: {table: users, name: users_age_check}`; with "
    "`down:` (values the old version's constraint accepts) the new version is free of it at "
    "once.",
    equivalents={"squawk": ["ban-drop-constraint"], "atlas": ["CD101"]},
    check=check,
    kinds=frozenset({K.DROP_CONSTRAINT}),
    tags=(COMPAT,),
    bad="ALTER TABLE users DROP CONSTRAINT users_age_check;",
    good="ALTER TABLE users ADD CONSTRAINT tmp CHECK (age > 0) NOT VALID;\n"
    "ALTER TABLE users DROP CONSTRAINT tmp;",
)
