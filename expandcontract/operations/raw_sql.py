"""sql: the escape hatch. ``up`` runs at expand (or at contract with ``on: contract``); ``down``
undoes an expand-time ``up`` on rollback. ec cannot see inside, so the new version's views
only know about tables and columns that ec's own operations describe."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from psycopg import sql

from expandcontract.operations.base import MigrationInvalid, Operation, PlannedStep, text
from expandcontract.operations.state import VersionState
from expandcontract.runner.runner import NON_TRANSACTIONAL


@dataclasses.dataclass
class RawSql(Operation):
    kind: ClassVar[str] = "sql"
    fields: ClassVar[dict[str, bool]] = {"up": True, "down": False, "on": False}

    up: str
    down: str | None = None
    on: str = "expand"

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> RawSql:
        up = text(data, "up", where)
        assert up is not None
        on = text(data, "on", where, required=False) or "expand"
        if on not in ("expand", "contract"):
            raise MigrationInvalid(f"{where}: on must be expand or contract, got {on!r}")
        return cls(up, text(data, "down", where, required=False), on)

    def to_spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"up": self.up, "on": self.on}
        if self.down is not None:
            out["down"] = self.down
        return out

    def apply(self, state: VersionState, *, where: str) -> None:
        return None

    def _step(self, key: str, body: str) -> PlannedStep:
        # CONCURRENTLY / VACUUM cannot run inside a transaction block.
        return PlannedStep(
            key,
            f"raw sql ({self.on})",
            (sql.SQL(body),),  # the escape hatch: statements by design
            "as written (unknown)",
            "unknown",
            transactional=not NON_TRANSACTIONAL.search(body),
            multi_statement=True,
        )

    def expand(self, ctx: Any) -> list[PlannedStep]:
        return [self._step("up", self.up)] if self.on == "expand" else []

    def contract(self, ctx: Any) -> list[PlannedStep]:
        return [self._step("up", self.up)] if self.on == "contract" else []

    def rollback(self, ctx: Any) -> list[PlannedStep]:
        if self.on == "expand" and self.down:
            return [self._step("down", self.down)]
        return []
