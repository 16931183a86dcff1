from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import Op, Statement
from expandcontract.lint.rules._types import NEW_COLUMN_KINDS, columns_of_type
from expandcontract.lint.rules.base import Rule

_TYPES = frozenset({"character"})  # canonical names (pgtypes.py)


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    bad = columns_of_type(op, _TYPES)
    return f"char(n) column: {', '.join(bad)}" if bad else None


RULE = Rule(
    id="ban-char-field",
    severity="warning",
    summary="char(n) column",
    why=(
        "char(n) pads with spaces, compares surprisingly and is no faster than text; "
        "changing n later rewrites the table."
    ),
    suggestion="Use text (with a CHECK on length if needed).",
    equivalents={"squawk": ["ban-char-field"]},
    check=check,
    kinds=NEW_COLUMN_KINDS,
    bad="ALTER TABLE users ADD COLUMN code char(3);",
    good="ALTER TABLE users ADD COLUMN code text;",
)
