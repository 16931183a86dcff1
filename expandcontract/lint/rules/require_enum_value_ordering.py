from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.ENUM_ADD_VALUE and not op.detail.get("position"):
        return (
            f"ALTER TYPE {op.table} ADD VALUE {op.name!r} without BEFORE/AFTER: the value's "
            "sort position is implicit and ORDER BY on the enum may change meaning"
        )
    return None


RULE = Rule(
    id="require-enum-value-ordering",
    severity="warning",
    summary="ALTER TYPE … ADD VALUE without BEFORE or AFTER",
    why="Enum values sort by declaration order; appending silently defines where the new value "
    "sorts.",
    suggestion="State the position: ADD VALUE 'x' BEFORE 'y' / AFTER 'z' (ec sql operation).",
    equivalents={"squawk": ["require-enum-value-ordering"]},
    check=check,
    kinds=frozenset({K.ENUM_ADD_VALUE}),
    bad="ALTER TYPE mood ADD VALUE 'meh';",
    good="ALTER TYPE mood ADD VALUE 'meh' BEFORE 'ok';",
)
