"""alter_column: change type, nullability and/or default; add a unique, check or foreign key
constraint; set or remove the comment.

A default-only change needs no data movement (the new version's view gets the new default;
contract sets it on the table). A type or nullability change duplicates the column behind
triggers (duplicate.py): old writes -> ``up``, new writes -> ``down``, backfilled, swapped in
at contract.
Constraints (constraints.py) go on the twin when the column is duplicated (type or
nullability change, or `up` given), else on the column itself, lock-safely either way. A
comment moves no data: contract sets it on the final column.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

import psycopg
from psycopg import sql

from expandcontract.operations import probes
from expandcontract.operations.base import (
    CATALOG,
    DualWrite,
    Expression,
    MigrationInvalid,
    Operation,
    PlannedStep,
    Resolved,
    flag,
    identifier,
    text,
)
from expandcontract.operations.column_constraints import (
    ColumnConstraint,
    parse_check,
    parse_references,
    parse_unique,
)
from expandcontract.operations.constraints import Built
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.create_constraint import check_in_place
from expandcontract.operations.duplicate import DuplicatedColumn
from expandcontract.operations.expressions import (
    check_expression,
    check_type,
    expression_sql,
    type_sql,
)
from expandcontract.operations.state import LogicalColumn, LogicalTable, VersionState

if TYPE_CHECKING:
    from expandcontract.verify.mapping import VersionMap

_UNSET = object()


@dataclasses.dataclass
class AlterColumn(Operation):
    kind: ClassVar[str] = "alter_column"
    table: str
    column: str
    type: str | None = None
    nullable: bool | None = None
    default: Any = _UNSET  # a SQL expression, None to drop the default, _UNSET to keep it
    up: str | None = None
    down: str | None = None
    unique: Any = None  # true or {name, nulls_not_distinct}
    check: Any = None  # an expression or {name, expression}
    references: Any = None  # table(column) or {name, table, column, on_delete, …}
    comment: Any = _UNSET  # text, None to remove it, _UNSET to keep it
    _constraints: list[ColumnConstraint] = dataclasses.field(default_factory=list)

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> AlterColumn:
        table = identifier(data, "table", where, what="table name")
        column = identifier(data, "column", where, what="column name")
        assert table is not None and column is not None
        op = cls(
            table,
            column,
            type=text(data, "type", where, required=False),
            nullable=flag(data, "nullable", where),
            up=text(data, "up", where, required=False),
            down=text(data, "down", where, required=False),
        )
        if "default" in data:
            op.default = None if data["default"] is None else text(data, "default", where)
        if "comment" in data:
            comment = data["comment"]
            if comment is not None and not isinstance(comment, str):
                raise MigrationInvalid(f"{where}: comment is a string, or null to remove it")
            op.comment = comment
        parsed = (
            parse_unique(data.get("unique"), f"{where}: unique"),
            parse_check(data.get("check"), f"{where}: check"),
            parse_references(data.get("references"), f"{where}: references"),
        )
        op.unique, op.check, op.references = (
            data.get(k) for k in ("unique", "check", "references")
        )
        op._constraints = [c for c in parsed if c is not None]
        names = [c.name for c in op._constraints if c.name]
        if len(set(names)) != len(names):
            raise MigrationInvalid(f"{where}: two constraints named {names[0]!r}")
        check_type(op.type, what=f"{where}: type")
        for key, value in (("up", op.up), ("down", op.down), ("default", op.default)):
            check_expression(value if isinstance(value, str) else None, what=f"{where}: {key}")
        if (
            op.type is None
            and op.nullable is None
            and op.default is _UNSET
            and op.comment is _UNSET
            and not op._constraints
        ):
            raise MigrationInvalid(
                f"{where}: alter_column needs type, nullable, default, unique, check, "
                "references or comment"
            )
        return op

    def apply(self, state: VersionState, *, where: str) -> Resolved:
        table = state.table(self.table, where)
        column = state.column(table, self.column, where)
        if column.origin != "existing":
            raise MigrationInvalid(
                f"{where}: column {self.column!r} is added or changed earlier in this migration",
                "fold this change into that operation",
            )
        physical = state.physical.tables[table.physical]
        new_type = self.type if self.type is not None else column.type
        type_changes = self.type is not None and self.type != column.type
        null_changes = self.nullable is not None and self.nullable != column.nullable
        if self.default is not _UNSET:
            column.default = self.default
        # With `up`, a new constraint goes on a twin the new version alone is bound by.
        moves = type_changes or null_changes or (self.up is not None and bool(self._constraints))
        if not moves:  # default, comment or in-place constraints: nothing to move
            built = self._build_constraints(state, table, column.physical, False, where)
            return _Altered(self, table, column, None, built, column.physical)
        source = physical.columns[column.physical]
        keyed = source.identity or column.physical in physical.primary_key
        if keyed and (self._constraints or self.comment is not _UNSET):
            raise MigrationInvalid(
                f"{where}: {self.column!r} is a primary key or identity column: change its type "
                "in an alter_column of its own",
                "add unique, check, references or comment in a separate alter_column",
            )
        if source.generated:
            raise MigrationInvalid(
                f"{where}: changing the type or nullability of generated column "
                f"{self.column!r} is not supported yet"
            )
        if source.identity or column.physical in physical.primary_key:
            from expandcontract.operations import key_swap  # its own module: keys move at swap

            return key_swap.convert(
                self, state, table, column, changes_default=self.default is not _UNSET, where=where
            )
        if self.up is None:
            raise MigrationInvalid(
                f"{where}: changing {self.table}.{self.column} moves data, so it needs `up`: "
                "the new value computed from the old version's columns",
                f"e.g. up: \"{self.column}::{new_type}\"" if type_changes else
                f"e.g. up: \"coalesce({self.column}, <value>)\"",
            )  # fmt: skip
        old_accepts_new_values = not type_changes and (self.nullable is not True or column.nullable)
        if self.down is None and not old_accepts_new_values:
            raise MigrationInvalid(
                f"{where}: {self.table}.{self.column} needs `down`: the value the old version "
                "sees for rows the new version writes",
                "names in down refer to the new version's columns",
            )
        twin = DuplicatedColumn.create(
            state,
            table,
            column,
            type_=new_type,
            nullable=column.nullable if self.nullable is None else self.nullable,
            op="alter_column",
            where=where,
        )
        built = self._build_constraints(state, table, twin.twin.physical, True, where)
        return _Altered(self, table, twin.twin, twin, built, column.physical)

    def _build_constraints(
        self, state: VersionState, table: LogicalTable, physical: str, twinned: bool, where: str
    ) -> list[Built]:
        return [
            c.build(state, table, self.column, physical, twinned=twinned, where=where)
            for c in self._constraints
        ]

    def link(self, versions: VersionMap) -> None:
        if link := versions.by_new(self.table):
            link.columns = [
                dataclasses.replace(c, up=self.up or c.up, down=self.down or c.down)
                if c.new == self.column
                else c
                for c in link.columns
            ]


@dataclasses.dataclass(frozen=True)
class _Altered(Resolved):
    op: AlterColumn
    logical: LogicalTable
    column: LogicalColumn  # the new version's column
    twin: DuplicatedColumn | None  # None: nothing moves
    constraints: list[Built]
    source: str  # the physical column as the operation found it

    @property
    def table(self) -> str:  # physical
        return self.logical.physical

    def types(self) -> list[str]:
        return [self.op.type] if self.op.type else []

    def _down(self) -> str:
        # Without an explicit down the new value fits the old column as it is.
        down = self.op.down
        return down if down is not None else sql.Identifier(self.op.column).as_string(None)

    def expressions(self, ctx: PhaseContext) -> list[Expression]:
        out = []
        if self.twin is not None:
            assert self.op.up is not None
            out.append(Expression("up", self.op.up, self.column.type, "old", self.table))
            out.append(Expression("down", self._down(), self.twin.old_type(ctx), "new", self.table))
        if isinstance(self.op.default, str):
            out.append(Expression("default", self.op.default, self.column.type))
        for c in self.op._constraints:
            if c.check is not None:
                out.append(Expression("check", c.check, "boolean", "new", self.table))
        return out

    def probe(self, conn: psycopg.Connection[Any], ctx: PhaseContext, where: str) -> None:
        if self.twin is not None and self.op.default is _UNSET and self.column.default:
            # The column keeps its default under the new type: it must still be assignable,
            # or the view (and contract's SET DEFAULT) would fail after expand started.
            try:
                probes.try_ddl(
                    conn,
                    [
                        sql.SQL("CREATE TEMP TABLE {} (c {} DEFAULT ({}))").format(
                            sql.Identifier(probes.PROBE_TABLE),
                            type_sql(self.column.type),
                            expression_sql(self.column.default),
                        )
                    ],
                    where=where,
                    what=f"keeping the default {self.column.default!r} for {self.column.type}",
                )
            except MigrationInvalid as exc:
                raise MigrationInvalid(
                    exc.message, "give alter_column a `default:` for the new type (null drops it)"
                ) from None
        if self.twin is None:
            for built in self.constraints:
                physical = {self.op.column: self.source}
                check_in_place(conn, ctx, self.logical, physical, built, where)

    def expand(self, ctx: PhaseContext) -> list[PlannedStep]:
        steps = self.twin.expand(ctx) if self.twin else []
        return steps + [s for c in self.constraints for s in c.expand(ctx)]

    def dual_writes(self, ctx: PhaseContext) -> list[DualWrite]:
        if self.twin is None:
            return []
        assert self.op.up is not None
        return self.twin.dual_writes(self.op.up, self._down())

    def contract(self, ctx: PhaseContext) -> list[PlannedStep]:
        steps = self.twin.contract(ctx) if self.twin else []
        return steps + [s for c in self.constraints for s in c.contract(ctx)]

    def after_swap(self, ctx: PhaseContext) -> list[PlannedStep]:
        """After the old column is dropped and the twin renamed: the twin's objects take their
        names, and the default is set (table renames come later, so the physical name holds)."""
        steps = self.twin.after_swap(ctx) if self.twin else []
        steps += [s for c in self.constraints for s in c.after_swap(ctx)]
        if self.op.comment is not _UNSET:
            steps.append(
                PlannedStep(
                    f"comment:{self.column.name}",
                    f"comment on {self.table}.{self.column.name}",
                    (
                        sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(
                            ctx.table_ref(self.table),
                            sql.Identifier(self.column.name),
                            sql.Literal(self.op.comment),
                        ),
                    ),
                    "SHARE UPDATE EXCLUSIVE",
                    CATALOG,
                )
            )
        if self.op.default is not _UNSET or self.twin is not None:
            default = self.column.default
            action = (
                sql.SQL("SET DEFAULT ({})").format(expression_sql(default))
                if default is not None
                else sql.SQL("DROP DEFAULT")
            )
            steps.append(
                PlannedStep(
                    f"default:{self.column.name}",
                    f"default of {self.table}.{self.column.name}",
                    (
                        sql.SQL("ALTER TABLE {} ALTER COLUMN {} {}").format(
                            ctx.table_ref(self.table), sql.Identifier(self.column.name), action
                        ),
                    ),
                    "ACCESS EXCLUSIVE",
                    CATALOG,
                )
            )
        return steps

    def rollback(self, ctx: PhaseContext) -> list[PlannedStep]:
        steps = [s for c in reversed(self.constraints) for s in c.rollback(ctx)]
        return steps + (self.twin.rollback(ctx) if self.twin else [])
