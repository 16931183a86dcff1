from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.CREATE_DOMAIN and op.detail.get("check"):
        return (
            f"CREATE DOMAIN {op.table} with a CHECK: changing that constraint later revalidates"
            " every column of the domain, and coercing a column to it rewrites the table"
        )
    if op.kind == K.ALTER_DOMAIN_ADD_CONSTRAINT and not op.not_valid:
        return (
            f"ALTER DOMAIN {op.table} ADD CONSTRAINT checks every column using the domain "
            "while locking those tables"
        )
    return None


RULE = Rule(
    id="domain-constraint",
    severity="warning",
    summary="CREATE DOMAIN with CHECK / ALTER DOMAIN … ADD CONSTRAINT",
    why="Domain constraints are validated against every column of every table that uses the "
    "domain, under locks on all of them.",
    suggestion="Put CHECK constraints on the columns (NOT VALID, then VALIDATE) instead of on a "
    "domain.",
    equivalents={
        "squawk": ["ban-create-domain-with-constraint", "ban-alter-domain-with-add-constraint"]
    },
    check=check,
    kinds=frozenset({K.CREATE_DOMAIN, K.ALTER_DOMAIN_ADD_CONSTRAINT}),
    bad="CREATE DOMAIN posint AS integer CHECK (VALUE > 0);",
    good="CREATE DOMAIN email AS text;",
)
