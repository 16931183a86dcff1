from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._size import graded
from expandcontract.lint.rules._util import existing, locks
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind != K.ADD_CONSTRAINT or op.not_valid or not existing(op, ctx):
        return None
    if op.detail.get("type") not in ("check", "not_null"):
        return None
    form = "NOT NULL" if op.detail.get("type") == "not_null" else "CHECK"
    return graded(
        f"ADD CONSTRAINT {op.name or ''} {form} without NOT VALID scans the whole table while "
        f"it {locks(op)}",
        op,
        ctx,
        "the scan",
    )


RULE = Rule(
    id="constraint-missing-not-valid",
    severity="error",
    summary="ADD CONSTRAINT … CHECK without NOT VALID on an existing table",
    why="Adding a validated CHECK scans every row while holding ACCESS EXCLUSIVE.",
    suggestion="Add it NOT VALID, then VALIDATE CONSTRAINT in a separate transaction (takes only "
    "SHARE UPDATE EXCLUSIVE). ec operation create_constraint does both, e.g. "
    '`create_constraint: {table: users, name: users_age_check, type: check, check: "age >= '
    '0"}`; for NOT NULL, alter_column with nullable: false.',
    equivalents={
        "squawk": ["constraint-missing-not-valid"],
        "strong_migrations": ["add_check_constraint"],
        "atlas": ["PG305"],
        "eugene": ["E1"],
    },
    check=check,
    kinds=frozenset({K.ADD_CONSTRAINT}),
    bad="ALTER TABLE users ADD CONSTRAINT users_age_check CHECK (age >= 0);",
    good="ALTER TABLE users ADD CONSTRAINT users_age_check CHECK (age >= 0) NOT VALID;",
)
