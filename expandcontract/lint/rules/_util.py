"""Small helpers shared by rule modules."""

from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import Op
from expandcontract.lint.locks import describe, lock_of


def locks(op: Op) -> str:
    lock = lock_of(op)
    return describe(lock, op.table) if lock else "takes no table lock"


def existing(op: Op, ctx: Context) -> bool:
    """The op targets a table that existed before this file (so it may be big and busy)."""
    return bool(op.table) and not ctx.is_new(op.table)


def where(op: Op) -> str:
    if op.origin == "do-block":
        return " (inside a DO block)"
    if op.origin == "function-body":
        return " (inside a function body: runs whenever the function is called)"
    return ""
