"""alter_column on a primary key or identity column: widen ``integer`` to ``bigint`` while both
versions write (GitLab's integer -> bigint recipe; prototyped in notes/pk_conversion.md).

Expand: the twin (duplicate.py) plus a unique index on it built CONCURRENTLY, in the primary
key's column order. The new version's view gives the twin no default: an insert that leaves the
key out gets the base column's identity/serial value, and the trigger copies it into the twin.
Contract, before the swap: NOT NULL proved on the twin, then every foreign key that references
the primary key gets a copy that references the twin's index (NOT VALID, then VALIDATE: child
scanned under SHARE UPDATE EXCLUSIVE). The swap transaction (contract.py), parent and its
referencing tables locked first: old foreign keys and the primary key dropped, the identity
re-created on the twin and its sequence set to where the old one was, the old column dropped,
the twin renamed, ``ADD CONSTRAINT <same name> PRIMARY KEY USING INDEX`` (no scan: the twin is
NOT NULL already), the sequence widened / renamed, the default set, the copied foreign keys
renamed to the original names. Nothing is left to validate after contract.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from expandcontract.operations import ddl
from expandcontract.operations.base import (
    NONBLOCKING_LOCK_TIMEOUT_MS,
    SCAN,
    DualWrite,
    Expression,
    MigrationInvalid,
    PlannedStep,
    Resolved,
    SwapWork,
)
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.duplicate import DuplicatedColumn
from expandcontract.operations.expressions import catalog_sql, type_sql
from expandcontract.operations.key_facts import (
    ForeignKey,
    SequenceFacts,
    copy_name,
    foreign_key_copy,
    identity_statements,
    read_foreign_keys,
    read_sequence,
    temporary_sequence,
)
from expandcontract.operations.state import (
    LogicalColumn,
    LogicalTable,
    VersionState,
    duplicate_name,
)
from expandcontract.schema.model import Constraint, Index

if TYPE_CHECKING:
    from expandcontract.operations.alter_column import AlterColumn

_RANK = {"smallint": 0, "integer": 1, "bigint": 2}
_ALIASES = {"int2": "smallint", "int": "integer", "int4": "integer", "int8": "bigint"}
_NEXTVAL = re.compile(r"^nextval\('((?:[^']|'')+)'::regclass\)$")


def _integer_type(name: str) -> str | None:
    folded = " ".join(name.lower().split())
    folded = _ALIASES.get(folded, folded)
    return folded if folded in _RANK else None


def _quoted(name: str) -> str:
    return sql.Identifier(name).as_string(None)


def convert(
    op: AlterColumn,
    state: VersionState,
    table: LogicalTable,
    column: LogicalColumn,
    *,
    changes_default: bool,
    where: str,
) -> Resolved:
    """The alter_column of a primary key or identity column (only widening integer types)."""
    physical = state.physical.tables[table.physical]
    source = physical.columns[column.physical]
    what = "primary key" if column.physical in physical.primary_key else "identity"
    old_type, new_type = _integer_type(source.type), _integer_type(op.type or "")
    if old_type is None or new_type is None or _RANK[new_type] <= _RANK[old_type]:
        raise MigrationInvalid(
            f"{where}: {what} column {op.column!r} ({source.type}) can only be widened: "
            "smallint -> integer -> bigint",
            "other type or nullability changes of a key need a new column and a new key",
        )
    if op.nullable is True:
        raise MigrationInvalid(f"{where}: {what} column {op.column!r} cannot become nullable")
    extra = sorted(set(op.to_spec()) - {"table", "column", "type", "nullable", "up", "down"})
    if extra and extra != ["default"]:
        raise MigrationInvalid(
            f"{where}: change {', '.join(extra)} of {what} column {op.column!r} in a separate "
            "alter_column",
        )
    if changes_default:
        raise MigrationInvalid(
            f"{where}: change the default of {what} column {op.column!r} in a separate migration",
            "the key keeps its identity, sequence or default through the conversion",
        )
    if physical.kind == "p":
        raise MigrationInvalid(
            f"{where}: {op.table!r} is partitioned: converting its {what} is not supported",
            "PostgreSQL cannot build the new key's index CONCURRENTLY on a partitioned table",
        )
    pk = next((c for c in physical.constraints.values() if c.kind == "p"), None)
    index = None
    if pk is not None and column.physical in pk.columns:
        others = [table.touched_by[c] for c in pk.columns if c in table.touched_by]
        if others:
            raise MigrationInvalid(
                f"{where}: primary key {pk.name!r} already has a column changed by {others[0]}",
                "convert one column of a composite primary key per migration",
            )
        index = physical.indexes[pk.index or ""]
        if not index.plain or index.predicate:
            raise MigrationInvalid(
                f"{where}: primary key index {index.name!r} is not a plain btree over columns "
                "(INCLUDE, ordering or operator classes): ec cannot rebuild it yet"
            )
        state.claim_relation_name(_index_name(index), table.physical, where)
    else:
        pk = None
    name = _quoted(op.column)
    up = op.up if op.up is not None else f"{name}::{new_type}"
    down = op.down if op.down is not None else f"{name}::{old_type}"
    twin = DuplicatedColumn.create(
        state, table, column, type_=op.type or new_type, nullable=False, op="alter_column",
        where=where,
    )  # fmt: skip
    # The view gets no default: the base column's identity, sequence or default fills a key
    # the new version leaves out, and the trigger copies it into the twin.
    twin.twin.default = None
    return _KeySwap(
        twin, up, down, old_type, new_type, pk, index, source.identity, source.default, _Facts()
    )


def _index_name(index: Index) -> str:
    return ddl.object_name("_ec_new", index.name, suffix="idx")


@dataclasses.dataclass
class _Facts:
    """What probe() reads from the live database at planning time."""

    foreign_keys: list[ForeignKey] = dataclasses.field(default_factory=list)
    sequence: SequenceFacts | None = None


@dataclasses.dataclass(frozen=True)
class _KeySwap(Resolved):
    twin: DuplicatedColumn
    up: str
    down: str
    old_type: str
    new_type: str
    pk: Constraint | None
    index: Index | None  # the primary key's index
    identity: str  # "a" ALWAYS, "d" BY DEFAULT, "" none
    default: str | None  # the old column's default (serial: nextval)
    facts: _Facts

    @property
    def table(self) -> str:
        return self.twin.table

    @property
    def old(self) -> str:
        return self.twin.old

    @property
    def new(self) -> str:
        return self.twin.twin.physical

    def types(self) -> list[str]:
        return [self.twin.twin.type]

    def expressions(self, ctx: PhaseContext) -> list[Expression]:
        return [
            Expression("up", self.up, self.twin.twin.type, "old", self.table),
            Expression("down", self.down, self.twin.old_type(ctx), "new", self.table),
        ]

    def probe(self, conn: psycopg.Connection[Any], ctx: PhaseContext, where: str) -> None:
        table = ctx.table_ref(self.table).as_string(conn)
        if self.pk is not None:
            self.facts.foreign_keys = read_foreign_keys(conn, table, where)
        sequence_name = None
        if not self.identity and self.default and (m := _NEXTVAL.match(self.default)):
            sequence_name = m.group(1).replace("''", "'")
        if self.identity or sequence_name:
            self.facts.sequence = read_sequence(conn, table, self.old, sequence_name)
        if self.identity and self.facts.sequence is None:
            raise MigrationInvalid(f"{where}: the identity sequence of {self.old!r} is not found")

    def moved_foreign_keys(self) -> list[tuple[str, str, str]]:
        return [(fk.schema, fk.table, fk.name) for fk in self.facts.foreign_keys]

    # expand

    def expand(self, ctx: PhaseContext) -> list[PlannedStep]:
        steps = self.twin.expand(ctx)
        if self.index is None:
            return steps
        index, name = self.index, _index_name(self.index)
        columns = [self.new if c == self.old else c for c in index.columns]
        clauses: list[sql.Composable] = []
        if index.options:
            pairs = [option.partition("=") for option in index.options]
            clauses.append(
                sql.SQL(" WITH ({})").format(
                    sql.SQL(", ").join(
                        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Literal(v))
                        for k, _, v in pairs
                    )
                )
            )
        if index.tablespace:
            clauses.append(sql.SQL(" TABLESPACE {}").format(catalog_sql(index.tablespace)))
        steps.append(
            PlannedStep(
                f"pk-index:{index.name}",
                f"unique index {name} on the twin, the next primary key, built CONCURRENTLY",
                (
                    sql.SQL(
                        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} ({}){}"
                    ).format(
                        sql.Identifier(name),
                        ctx.table_ref(self.table),
                        sql.SQL(", ").join(map(sql.Identifier, columns)),
                        sql.Composed(clauses),
                    ),
                ),
                "SHARE UPDATE EXCLUSIVE",
                SCAN,
                lock_timeout_ms=NONBLOCKING_LOCK_TIMEOUT_MS,
                transactional=False,
                creates_index=(ctx.schema, name),
                statement_timeout_ms=0,
                stage="indexes",
            )
        )
        return steps

    def dual_writes(self, ctx: PhaseContext) -> list[DualWrite]:
        """up/down as for any twin, plus: a new-version insert that leaves the key out gets
        the base column's identity/serial value (the view has no default), copied to the twin
        first; down then keeps it (the block's variables hold the values before the copy)."""
        new, old, var = _quoted(self.new), _quoted(self.old), _quoted(self.twin.twin.name)
        fill = f"coalesce(NEW.{new}, NEW.{old}::{self.new_type})"
        down = f"CASE WHEN {var} IS NULL THEN NEW.{old} ELSE ({self.down}) END"
        return [
            DualWrite(self.table, self.new, self.up, "up", "always"),
            DualWrite(self.table, self.new, fill, "down", "insert"),
            DualWrite(self.table, self.old, down, "down", "always"),
        ]

    # contract

    def contract(self, ctx: PhaseContext) -> list[PlannedStep]:
        """NOT NULL proved on the twin, then each referencing foreign key copied onto the
        twin's unique index and validated while writes go on."""
        steps = self.twin.contract(ctx)
        for fk in self.facts.foreign_keys:
            referenced = [self.new if c == self.old else c for c in fk.referenced]
            steps += foreign_key_copy(ctx, fk, self.table, self._child_columns(ctx, fk), referenced)
        return steps

    def _child_columns(self, ctx: PhaseContext, fk: ForeignKey) -> list[str]:
        """A referencing column converted in this migration too is used through its twin."""
        twins = {
            c.physical
            for t in ctx.state.tables.values()
            if t.physical == fk.table and fk.schema == ctx.schema
            for c in t.columns.values()
            if c.origin == "duplicated"
        }
        return [duplicate_name(c) if duplicate_name(c) in twins else c for c in fk.columns]

    def _converted_child(self, ctx: PhaseContext, fk: ForeignKey) -> bool:
        return self._child_columns(ctx, fk) != fk.columns

    def swap(self, ctx: PhaseContext) -> list[SwapWork]:
        ref = ctx.table_ref(self.table)
        children = sorted(
            {(fk.schema, fk.table) for fk in self.facts.foreign_keys} - {(ctx.schema, self.table)}
        )
        before: list[sql.SQL | sql.Composed] = [
            # One wait point for every table the transaction changes: no lock upgrade later.
            sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                sql.SQL(", ").join([ref, *(sql.Identifier(s, t) for s, t in children)])
            )
        ]
        after: list[sql.SQL | sql.Composed] = []
        for fk in self.facts.foreign_keys:
            child = sql.Identifier(fk.schema, fk.table)
            before.append(
                sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(
                    child, sql.Identifier(fk.name)
                )
            )
            if not self._converted_child(ctx, fk):  # else the child's swap renames it
                after.append(
                    sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                        child, sql.Identifier(copy_name(fk)), sql.Identifier(fk.name)
                    )
                )
        if self.pk is not None:
            before.append(
                sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                    ref, sql.Identifier(self.pk.name)
                )
            )
            after = self._attach_primary_key(ctx) + after
        sequence = self.facts.sequence
        if self.identity and sequence is not None:
            kind = "ALWAYS" if self.identity == "a" else "BY DEFAULT"
            before += identity_statements(ctx, self.table, self.new, kind, sequence)
            after.append(
                sql.SQL("ALTER SEQUENCE {} RENAME TO {}").format(
                    sql.Identifier(ctx.schema, temporary_sequence(sequence)),
                    sql.Identifier(sequence.name),
                )
            )
        elif self.default is not None:
            if sequence is not None and _RANK.get(sequence.type, 9) < _RANK[self.new_type]:
                after.append(
                    sql.SQL("ALTER SEQUENCE {} AS {}").format(
                        sql.Identifier(sequence.schema, sequence.name), type_sql(self.new_type)
                    )
                )
            after.append(
                sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}").format(
                    ref, sql.Identifier(self.twin.twin.name), catalog_sql(self.default)
                )
            )
        moved = "primary key" if self.pk is not None else "identity"
        return [SwapWork(self.table, tuple(before), tuple(after), f"{moved} of {self.old} moved")]

    def _attach_primary_key(self, ctx: PhaseContext) -> list[sql.SQL | sql.Composed]:
        assert self.pk is not None and self.index is not None
        ref, pk = ctx.table_ref(self.table), sql.Identifier(self.pk.name)
        deferrable = (" DEFERRABLE" if self.pk.deferrable else "") + (
            " INITIALLY DEFERRED" if self.pk.deferred else ""
        )
        out: list[sql.SQL | sql.Composed] = [
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY USING INDEX {}{}").format(
                ref, pk, sql.Identifier(_index_name(self.index)), sql.SQL(deferrable)
            )
        ]
        if self.pk.comment is not None:
            out.append(
                sql.SQL("COMMENT ON CONSTRAINT {} ON {} IS {}").format(
                    pk, ref, sql.Literal(self.pk.comment)
                )
            )
        if self.index.comment is not None:
            out.append(
                sql.SQL("COMMENT ON INDEX {} IS {}").format(
                    sql.Identifier(ctx.schema, self.pk.name), sql.Literal(self.index.comment)
                )
            )
        if self.index.clustered:
            out.append(sql.SQL("ALTER TABLE {} CLUSTER ON {}").format(ref, pk))
        if self.index.replica_identity:
            out.append(sql.SQL("ALTER TABLE {} REPLICA IDENTITY USING INDEX {}").format(ref, pk))
        return out

    def after_swap(self, ctx: PhaseContext) -> list[PlannedStep]:
        return self.twin.after_swap(ctx)

    def rollback(self, ctx: PhaseContext) -> list[PlannedStep]:
        return self.twin.rollback(ctx)
