"""sql: the escape hatch. ``up`` runs at expand (or at contract with ``on: contract``); ``down``
undoes an expand-time ``up`` on rollback. ec cannot see inside, so the new version's views
only know about tables and columns that ec's own operations describe."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from psycopg import sql

from expandcontract.operations.base import MigrationInvalid, Operation, PlannedStep, Resolved, text
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.state import VersionState
from expandcontract.runner.runner import NON_TRANSACTIONAL


@dataclasses.dataclass
class RawSql(Operation):
    kind: ClassVar[str] = "sql"

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
        # `on` is always written: checksums of migrations applied by earlier releases hold it.
        return {"on": self.on, **super().to_spec()}

    def apply(self, state: VersionState, *, where: str) -> Resolved:
        return _Opaque(self)


@dataclasses.dataclass(frozen=True)
class _Opaque(Resolved):
    op: RawSql

    def _step(self, key: str, body: str) -> PlannedStep:
        # CONCURRENTLY / VACUUM cannot run inside a transaction block.
        return PlannedStep(
            key,
            f"raw sql ({self.op.on})",
            (sql.SQL(body),),  # the escape hatch: statements by design
            "as written (unknown)",
            "unknown",
            transactional=not NON_TRANSACTIONAL.search(body),
            multi_statement=True,
        )

    def expand(self, ctx: PhaseContext) -> list[PlannedStep]:
        return [self._step("up", self.op.up)] if self.op.on == "expand" else []

    def contract(self, ctx: PhaseContext) -> list[PlannedStep]:
        return [self._step("up", self.op.up)] if self.op.on == "contract" else []

    def rollback(self, ctx: PhaseContext) -> list[PlannedStep]:
        if self.op.on == "expand" and self.op.down:
            return [self._step("down", self.op.down)]
        return []
