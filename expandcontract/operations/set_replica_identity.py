"""set_replica_identity: what logical replication logs to identify an updated or deleted row.

A table property (pg_class.relreplident), so it changes for both versions at expand: a brief
ACCESS EXCLUSIVE catalog update, no scan. Rollback restores the identity the table had
before (read from the catalog when the migration is planned); contract has nothing to do.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import psycopg
from psycopg import sql

from expandcontract.operations.base import (
    CATALOG,
    MigrationInvalid,
    Operation,
    PlannedStep,
    Resolved,
    check_name,
    identifier,
    text,
)
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.state import VersionState
from expandcontract.schema.model import Table

IDENTITIES = ("default", "full", "nothing", "index")
_CODES = {"d": "default", "f": "full", "n": "nothing", "i": "index"}


@dataclasses.dataclass
class SetReplicaIdentity(Operation):
    kind: ClassVar[str] = "set_replica_identity"

    table: str
    identity: str
    index: str | None = None

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> SetReplicaIdentity:
        table = identifier(data, "table", where, what="table name")
        identity = (text(data, "identity", where) or "").lower()
        if identity not in IDENTITIES:
            raise MigrationInvalid(
                f"{where}: identity must be one of {', '.join(IDENTITIES)}, got {identity!r}"
            )
        index = text(data, "index", where, required=False)
        if (identity == "index") != (index is not None):
            raise MigrationInvalid(
                f"{where}: index is required with identity: index, and only then"
            )
        if index is not None:
            check_name(index, f"{where}: index", what="index name")
        return cls(table, identity, index)

    def apply(self, state: VersionState, *, where: str) -> Resolved:
        table = state.table(self.table, where)
        if table.origin == "created":
            raise MigrationInvalid(
                f"{where}: table {self.table!r} is created by this migration",
                "set its replica identity in the next migration",
            )
        physical = state.physical.tables[table.physical]
        if self.index is not None:
            _check_index(physical, self.index, state, where)
            touched = [c for c in physical.indexes[self.index].uses if c in table.touched_by]
            if touched:
                raise MigrationInvalid(
                    f"{where}: index {self.index!r} is on column(s) {', '.join(touched)}, which "
                    "this migration changes (the index is replaced at contract)",
                    "set the replica identity in a separate migration",
                )
        return _Set(self, table.physical, {})


def _check_index(table: Table, name: str, state: VersionState, where: str) -> None:
    """What PostgreSQL requires of a replica identity index, checked before anything runs."""
    index = table.indexes.get(name)
    if index is None or name in state.dropped_indexes:
        raise MigrationInvalid(f"{where}: table {table.name!r} has no index {name!r}")
    backing = next((c for c in table.constraints.values() if c.index == name), None)
    problem = None
    if not index.unique:
        problem = "is not unique"
    elif index.predicate:
        problem = "is partial"
    elif not index.valid:
        problem = "is not valid"
    elif any(c not in table.columns for c in index.columns):
        problem = "has an expression key"
    elif any(table.columns[c].nullable for c in index.columns):
        problem = "has a nullable column"
    elif backing is not None and backing.deferrable:
        problem = "backs a deferrable constraint"
    if problem:
        raise MigrationInvalid(
            f"{where}: index {name!r} {problem}; a replica identity index must be unique, "
            "non-partial, immediate, over NOT NULL columns only"
        )


@dataclasses.dataclass(frozen=True)
class _Set(Resolved):
    op: SetReplicaIdentity
    table: str  # physical
    previous: dict[str, str | None]  # filled by probe: identity, index

    def probe(self, conn: psycopg.Connection[Any], ctx: PhaseContext, where: str) -> None:
        row = conn.execute(
            "SELECT c.relreplident::text, (SELECT ic.relname FROM pg_index i"
            " JOIN pg_class ic ON ic.oid = i.indexrelid"
            " WHERE i.indrelid = c.oid AND i.indisreplident)"
            " FROM pg_class c WHERE c.oid = %s::regclass",
            (ctx.table_ref(self.table).as_string(conn),),
        ).fetchone()
        assert row is not None
        self.previous["identity"] = _CODES[row[0]]
        self.previous["index"] = row[1]

    def _step(self, ctx: PhaseContext, key: str, identity: str, index: str | None) -> PlannedStep:
        clause: sql.Composable = sql.SQL(identity.upper())
        if identity == "index":
            # relreplident 'i' whose index is gone behaves as NOTHING: restore it as such.
            clause = (
                sql.SQL("USING INDEX {}").format(sql.Identifier(index))
                if index
                else sql.SQL("NOTHING")
            )
        return PlannedStep(
            key,
            f"replica identity of {self.table}: {identity}" + (f" ({index})" if index else ""),
            (
                sql.SQL("ALTER TABLE {} REPLICA IDENTITY {}").format(
                    ctx.table_ref(self.table), clause
                ),
            ),
            "ACCESS EXCLUSIVE",
            CATALOG,
        )

    def expand(self, ctx: PhaseContext) -> list[PlannedStep]:
        return [self._step(ctx, "set", self.op.identity, self.op.index)]

    def rollback(self, ctx: PhaseContext) -> list[PlannedStep]:
        identity = self.previous.get("identity") or "default"
        return [self._step(ctx, "restore", identity, self.previous.get("index"))]
