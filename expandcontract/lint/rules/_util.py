"""Small helpers shared by rule modules."""

from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op
from expandcontract.lint.locks import SRE, STRENGTH, describe, lock_of, referenced_tables


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


def waiting_locks(op: Op, ctx: Context, weakest: str) -> list[str]:
    """What ``op`` takes, at least as strong as ``weakest``, on relations that existed before
    this file (there a lock may queue behind long queries): its target's lock, the index's table
    for DROP INDEX (its table is not named), and the SHARE ROW EXCLUSIVE lock a foreign key takes
    on each table it references, even from a new table."""
    found: list[str] = []
    lock = lock_of(op)
    if lock in STRENGTH and STRENGTH.index(lock) >= STRENGTH.index(weakest):
        assert lock is not None
        if op.kind == K.DROP_INDEX and not op.table:
            if not ctx.is_new(op.name):
                found.append(describe(lock, f"the table of index {op.name}"))
        elif existing(op, ctx):
            found.append(describe(lock, op.table))
    if STRENGTH.index(SRE) >= STRENGTH.index(weakest):
        found += [
            f"{describe(SRE, table)} for its foreign key"
            for table in referenced_tables(op)
            if not ctx.is_new(table)
        ]
    return found
