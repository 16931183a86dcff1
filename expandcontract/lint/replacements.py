"""Drop-and-recreate inside one transaction is a replacement, not a removal.

``DROP TRIGGER IF EXISTS t ON x; CREATE TRIGGER t …`` (the only way to replace a trigger before
PostgreSQL 14) is atomic when both run in one transaction: no session ever sees the object
missing. Such a drop gets ``detail["replaced_at"]`` (the line of the re-creation), which the
rules about removed objects honour. In autocommit the object really is gone in between, so
nothing is marked there.
"""

from __future__ import annotations

from expandcontract.lint.ir import K, Kind, Op, Statement

_REPLACEABLE = {"TRIGGER": K.CREATE_TRIGGER, "FUNCTION": K.CREATE_FUNCTION}
_ENDS = {K.COMMIT, K.ROLLBACK}


def _bare(name: str | None) -> str:
    return (name or "").rsplit(".", 1)[-1]


def _key(op: Op) -> tuple[Kind, str] | None:
    if op.kind == K.DROP and op.detail.get("object") in _REPLACEABLE:
        return _REPLACEABLE[op.detail["object"]], _bare(op.name or op.table)
    return None


def _transactions(statements: list[Statement], assume: bool) -> list[list[Statement]]:
    """Runs of statements that execute in one transaction (BEGIN … COMMIT, or the whole file
    when the migration tool wraps it); autocommit statements are left out."""
    groups: list[list[Statement]] = []
    current: list[Statement] | None = [] if assume else None
    for stmt in statements:
        kinds = stmt.kinds
        if K.BEGIN in kinds and current is None:
            current = []
            groups.append(current)
            continue
        if kinds & _ENDS:
            current = None
            continue
        if current is not None:
            if not groups or groups[-1] is not current:
                groups.append(current)
            current.append(stmt)
    return groups


def mark_replacements(statements: list[Statement], assume: bool) -> None:
    for group in _transactions(statements, assume):
        created: dict[tuple[Kind, str], int] = {}
        for stmt in reversed(group):  # later creations first, so each drop sees what follows
            for op in reversed(stmt.ops):
                key = _key(op)
                if key is not None and key in created:
                    op.detail["replaced_at"] = str(created[key])
                if op.kind in _REPLACEABLE.values() and op.name:
                    created[(op.kind, _bare(op.name))] = op.line or stmt.line
