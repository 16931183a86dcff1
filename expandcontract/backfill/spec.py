"""What a backfill does (its identity): table, SET assignments, filter and key columns."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from expandcontract.backfill.errors import BackfillInputError
from expandcontract.operations.base import MigrationInvalid
from expandcontract.operations.expressions import parse_expression

_ASSIGNMENT = re.compile(
    r'^\s*(?P<col>"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)\s*=(?!=)(?P<expr>.+)$', re.S
)


@dataclasses.dataclass(frozen=True)
class BackfillSpec:
    """Re-running a backfill with the same name must mean the same spec (see ``checksum``)."""

    table: str
    assignments: tuple[tuple[str, str], ...]
    schema: str = "public"
    where: str | None = None
    keys: tuple[str, ...] | None = None

    @classmethod
    def build(
        cls,
        *,
        table: str,
        assignments: Mapping[str, str],
        schema: str = "public",
        where: str | None = None,
        keys: Sequence[str] | None = None,
    ) -> BackfillSpec:
        if not table.strip():
            raise BackfillInputError("the backfill needs a table")
        if not assignments:
            raise BackfillInputError(
                "the backfill needs at least one SET assignment", 'e.g. --set "new_col = old_col"'
            )
        pairs = []
        for column, expr in assignments.items():
            if not str(column).strip() or not str(expr).strip():
                raise BackfillInputError(f"empty column or expression in SET {column!r} = {expr!r}")
            pairs.append((str(column), _one_expression(str(expr).strip(), f"--set {column} =")))
        where = where.strip() if where and where.strip() else None
        if where is not None:
            _one_expression(where, "--where")
        return cls(
            table=table,
            assignments=tuple(sorted(pairs)),
            schema=schema,
            where=where,
            keys=tuple(keys) if keys else None,
        )

    def check_expressions(self) -> None:
        """BackfillInputError unless every SET expression and the filter is one expression
        (``build`` checks this; a spec constructed directly is checked again here)."""
        for column, expr in self.assignments:
            _one_expression(expr, f"--set {column} =")
        if self.where is not None:
            _one_expression(self.where, "--where")

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "table": self.table,
            "assignments": dict(self.assignments),
            "where": self.where,
            "keys": list(self.keys) if self.keys else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BackfillSpec:
        return cls.build(
            table=data["table"],
            assignments=data["assignments"],
            schema=data["schema"],
            where=data.get("where"),
            keys=data.get("keys"),
        )

    @property
    def checksum(self) -> str:
        text = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def default_name(self) -> str:
        return f"{self.schema}.{self.table}:{self.checksum[:10]}"


def _one_expression(text: str, what: str) -> str:
    """User text is spliced into ec's statements: it must be exactly one SQL expression (no
    ';', no comment, balanced brackets), checked before anything reaches the database."""
    try:
        parse_expression(text, what=what)
    except MigrationInvalid as exc:
        hint = f"{exc.hint}; nothing was run" if exc.hint else "nothing was run"
        raise BackfillInputError(exc.message, hint) from None
    return text


def parse_assignment(text: str) -> tuple[str, str]:
    """``"col = expr"`` -> ``("col", "expr")``; a quoted identifier keeps its exact spelling."""
    m = _ASSIGNMENT.match(text)
    if not m or not m.group("expr").strip():
        raise BackfillInputError(
            f"cannot read SET assignment {text!r}", 'write it as "column = expression"'
        )
    col = m.group("col")
    # Unquoted identifiers fold to lower case, as PostgreSQL does.
    col = col[1:-1].replace('""', '"') if col.startswith('"') else col.lower()
    return col, m.group("expr").strip()
