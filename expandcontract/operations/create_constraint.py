"""create_constraint: unique, check, foreign_key or primary_key over one or several columns.

With ``up``/``down`` the constrained columns are duplicated (duplicate.py) and the constraint
is built on the twins: the new version is bound by it, ``up`` rewrites the rows (and the old
version's writes) that would violate it, ``down`` maps the new version's writes back; the old
version keeps writing its columns unconstrained. Without them (cheap: no copy of the data)
the constraint goes on the columns themselves at expand and binds both versions' writes at
once; rows that already violate it are refused at plan time. Lock-safe either way
(constraints.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import psycopg
from psycopg import sql

from expandcontract.operations import constraint_names
from expandcontract.operations.base import (
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
from expandcontract.operations.constraint_twins import Twins
from expandcontract.operations.constraints import (
    KINDS,
    Built,
    References,
    Target,
    deferrable_flags,
    name_list,
)
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.expressions import (
    check_expression,
    expression_sql,
    referenced_columns,
    rename_columns,
)
from expandcontract.operations.state import LogicalTable, VersionState

if TYPE_CHECKING:
    from expandcontract.verify.mapping import VersionMap


def column_expressions(value: Any, columns: list[str], where: str, key: str) -> dict[str, str]:
    """``up``/``down``: {column: expression}, or one expression when there is one column."""
    if value is None:
        return {}
    if isinstance(value, str):
        if len(columns) != 1:
            raise MigrationInvalid(f"{where}: {key} must map each column to an expression")
        value = {columns[0]: value}
    if not isinstance(value, Mapping):
        raise MigrationInvalid(f"{where}: {key} is a mapping of column -> expression")
    out: dict[str, str] = {}
    for column, expression in value.items():
        if column not in columns:
            raise MigrationInvalid(
                f"{where}: {key} names {column!r}, which the constraint does not cover",
                f"its columns: {', '.join(columns)}",
            )
        text_ = text({key: expression}, key, f"{where}: {key}.{column}")
        assert text_ is not None
        out[str(column)] = check_expression(text_, what=f"{where}: {key}.{column}") or text_
    return out


@dataclasses.dataclass
class CreateConstraint(Operation):
    kind: ClassVar[str] = "create_constraint"

    table: str
    name: str
    type: str
    columns: list[str] = dataclasses.field(default_factory=list)
    check: str | None = None
    references: References | None = None
    deferrable: bool = False
    initially_deferred: bool = False
    nulls_not_distinct: bool = False
    include: list[str] = dataclasses.field(default_factory=list)
    up: dict[str, str] = dataclasses.field(default_factory=dict)
    down: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> CreateConstraint:
        table = identifier(data, "table", where, what="table name")
        name = identifier(data, "name", where, what="constraint name")
        kind = text(data, "type", where)
        if kind not in KINDS:
            raise MigrationInvalid(f"{where}: type must be one of {', '.join(KINDS)}, got {kind!r}")
        check = check_expression(text(data, "check", where, required=False), what=f"{where}: check")
        if (kind == "check") != (check is not None):
            raise MigrationInvalid(f"{where}: `check` is the expression of a check constraint only")
        if (kind == "foreign_key") != ("references" in data):
            raise MigrationInvalid(f"{where}: `references` belongs to a foreign_key (only)")
        references = None
        if kind == "foreign_key":
            references = References.parse(data["references"], f"{where}: references")
        if "columns" in data:
            columns = name_list(data["columns"], where, "columns")
        elif kind == "check" and check is not None:
            columns = []  # derived from the expression in apply()
        else:
            raise MigrationInvalid(f"{where}: {kind} needs columns")
        if references is not None and len(references.columns) != len(columns):
            raise MigrationInvalid(
                f"{where}: {len(columns)} column(s) reference {len(references.columns)}"
            )
        nnd = bool(flag(data, "nulls_not_distinct", where, False))
        if nnd and kind != "unique":
            raise MigrationInvalid(f"{where}: nulls_not_distinct is for unique constraints")
        deferrable, deferred = deferrable_flags(data, where, kind)
        include = name_list(data["include"], where, "include") if "include" in data else []
        if include and kind not in ("unique", "primary_key"):
            raise MigrationInvalid(f"{where}: include is for unique and primary key constraints")
        op = cls(table, name, kind, columns, check, references, deferrable, deferred, nnd, include)
        if (op.up or op.down or "up" in data or "down" in data) and not columns:
            raise MigrationInvalid(f"{where}: up/down need the constraint's columns listed")
        op.up = column_expressions(data.get("up"), columns, where, "up")
        op.down = column_expressions(data.get("down"), columns, where, "down")
        return op

    def apply(self, state: VersionState, *, where: str) -> Resolved:
        table = state.table(self.table, where)
        registry = constraint_names.names(state)
        if self.type == "primary_key":
            existing = [n for n, k in registry.on(table).items() if k.kind == "p"]
            if existing:
                raise MigrationInvalid(
                    f"{where}: table {self.table!r} already has primary key {existing[0]!r}",
                    "drop it earlier in this migration (drop_constraint), or in a migration before",
                )
        columns = list(self.columns)
        if not columns:
            assert self.check is not None
            found = referenced_columns(self.check, set(table.columns))
            columns = sorted(found or [])
        for c in columns:  # each must exist in the new version
            state.column(table, c, where)
        twins = Twins([])
        if self.up or self.down:
            twins = Twins.create(
                state, table, columns, self.up, self.down,
                not_null=self.type == "primary_key", op=self.kind, where=where,
            )  # fmt: skip
        physical = [state.column(table, c, where).physical for c in columns]
        prove: list[str] = []
        if self.type == "primary_key":
            for c in columns:
                column = state.column(table, c, where)
                if column.nullable:
                    prove.append(column.physical)
                column.nullable = False
        letter = constraint_names.KIND_LETTERS[self.type]
        build = registry.create(table, self.name, letter, physical, where)
        check = None
        if self.check is not None:
            names = {c.name: c.physical for c in table.columns.values()}
            check = rename_columns(self.check, names, where=f"{where}: check")
        built = Built(
            self.type, self.name, build, table.physical, tuple(physical), check,
            resolve_target(state, self.references, where), self.deferrable, self.initially_deferred,
            self.nulls_not_distinct, tuple(prove),
            index_after_backfill=bool(twins) and self.nulls_not_distinct,
            include=tuple(state.column(table, c, where).physical for c in self.include),
            escape_pending=bool(twins) and self.type == "check",
        )  # fmt: skip
        resolved = {c: state.column(table, c, where).physical for c in columns + self.include}
        return _Created(self, table, built, twins, resolved)

    def link(self, versions: VersionMap) -> None:
        if not (self.up or self.down):
            return
        if link := versions.by_new(self.table):
            plain = {c: sql.Identifier(c).as_string(None) for c in self.columns}
            link.columns = [
                dataclasses.replace(
                    c, up=self.up.get(c.new, plain[c.new]), down=self.down.get(c.new, plain[c.new])
                )
                if c.new in plain
                else c
                for c in link.columns
            ]


def resolve_target(state: VersionState, refs: References | None, where: str) -> Target | None:
    """The referenced table and columns, in the new version, resolved to physical names; they
    must carry a primary key or unique constraint (or index) of exactly those columns."""
    if refs is None:
        return None
    table = state.table(refs.table, f"{where}: references")
    columns = tuple(state.column(table, c, f"{where}: references").physical for c in refs.columns)
    registry = constraint_names.names(state)
    keys = [set(k.columns) for k in registry.on(table).values() if k.kind in ("p", "u")]
    physical = state.physical.tables.get(table.physical)
    if physical is not None:
        keys += [set(i.columns) for i in physical.indexes.values() if i.unique and not i.predicate]
    if set(columns) not in keys and table.origin != "created":
        raise MigrationInvalid(
            f"{where}: {refs.table}({', '.join(refs.columns)}) has no primary key or unique "
            "constraint over exactly these columns, which a foreign key needs",
            "create one first (create_constraint type: unique)",
        )
    return Target(table.physical, columns, refs.on_delete, refs.on_update, refs.match)


@dataclasses.dataclass(frozen=True)
class _Created(Resolved):
    op: CreateConstraint
    logical: LogicalTable
    built: Built
    twins: Twins
    physical: dict[str, str]  # the constrained columns, logical -> physical, as resolved

    def expressions(self, ctx: PhaseContext) -> list[Expression]:
        out = self.twins.expressions(ctx)
        if self.op.check is not None:
            out.append(Expression("check", self.op.check, "boolean", "new", self.built.table))
        return out

    def probe(self, conn: psycopg.Connection[Any], ctx: PhaseContext, where: str) -> None:
        if not self.twins:
            check_in_place(conn, ctx, self.logical, self.physical, self.built, where)

    def expand(self, ctx: PhaseContext) -> list[PlannedStep]:
        return self.twins.expand(ctx) + self.built.expand(ctx)

    def dual_writes(self, ctx: PhaseContext) -> list[DualWrite]:
        return self.twins.dual_writes()

    def contract(self, ctx: PhaseContext) -> list[PlannedStep]:
        return self.twins.contract(ctx) + self.built.contract(ctx)

    def after_swap(self, ctx: PhaseContext) -> list[PlannedStep]:
        return self.twins.after_swap(ctx) + self.built.after_swap(ctx)

    def rollback(self, ctx: PhaseContext) -> list[PlannedStep]:
        return self.built.rollback(ctx) + self.twins.rollback(ctx)


# How long planning may look for rows that already violate an in-place constraint.
VIOLATION_SCAN_BUDGET_MS = 5_000


def check_in_place(
    conn: psycopg.Connection[Any],
    ctx: PhaseContext,
    logical: LogicalTable,
    physical: dict[str, str],
    built: Built,
    where: str,
) -> None:
    """A constraint built on the columns themselves: no later operation of this migration may
    replace them, and rows already violating it are refused now (what VALIDATE or the index
    build would find halfway through the migration). Read-only."""
    for name, column in physical.items():
        current = logical.columns.get(name)
        if current is None or current.physical != column:
            raise MigrationInvalid(
                f"{where}: column {name!r} is changed or dropped later in this migration, "
                f"which would lose constraint {built.name!r}",
                "create the constraint after the operation that changes the column",
            )
    table = ctx.physical.tables.get(built.table)
    if table is None or any(c not in table.columns for c in built.columns):
        return  # a table or column created by this migration holds no rows yet
    query = violation_query(ctx, built)
    if query is None:
        return
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SET TRANSACTION READ ONLY")
            # An early refusal, not the guarantee (VALIDATE / the unique build is): on a big
            # table the scan stops at a budget instead of holding a snapshot for minutes.
            conn.execute(
                "SELECT set_config('statement_timeout', %s, true),"
                " set_config('lock_timeout', %s, true)",
                (f"{VIOLATION_SCAN_BUDGET_MS}ms", f"{VIOLATION_SCAN_BUDGET_MS}ms"),
            )
            found = conn.execute(query).fetchone()
    except psycopg.errors.UndefinedColumn:
        return  # the expression reads a column this migration adds: no rows to check yet
    except (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable):
        return  # not proved in budget: expand's build or contract's VALIDATE will tell
    if found is not None:
        raise MigrationInvalid(
            f"{where}: rows of {logical.name!r} already violate {built.kind} constraint "
            f"{built.name!r} (e.g. {', '.join(map(repr, found))})",
            "give `up` (and `down`) for its columns: the new version then gets the values "
            "`up` rewrites them to; or fix the rows first",
        )


def violation_query(ctx: PhaseContext, built: Built) -> sql.Composed | None:
    """A query returning one row that violates ``built`` (read-only), or None."""
    ref = ctx.table_ref(built.table)
    cols = [sql.Identifier(c) for c in built.columns]
    listed = sql.SQL(", ").join(cols)
    if built.indexed:
        skip_nulls = built.kind == "unique" and not built.nulls_not_distinct
        nulls = sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(c) for c in cols)
        where = sql.SQL(" WHERE {}").format(nulls) if skip_nulls else sql.SQL("")
        duplicates = sql.SQL("SELECT {} FROM {}{} GROUP BY {} HAVING count(*) > 1 LIMIT 1").format(
            listed, ref, where, listed
        )
        if built.kind == "primary_key":
            any_null = sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(c) for c in cols)
            nulls_row = sql.SQL("SELECT {} FROM {} WHERE {} LIMIT 1").format(listed, ref, any_null)
            return sql.SQL("({}) UNION ALL ({}) LIMIT 1").format(duplicates, nulls_row)
        return duplicates
    if built.kind == "check":
        assert built.check is not None
        return sql.SQL("SELECT {} FROM {} WHERE NOT ({}) LIMIT 1").format(
            listed, ref, expression_sql(built.check)
        )
    target = built.target
    assert target is not None
    if target.table not in ctx.physical.tables:
        return None  # created by this migration: empty
    joined = sql.SQL(" AND ").join(
        sql.SQL("p.{} = c.{}").format(sql.Identifier(t), sql.Identifier(c))
        for t, c in zip(target.columns, built.columns, strict=True)
    )
    join = sql.SQL(" OR " if target.match == "full" else " AND ")
    present = join.join(sql.SQL("c.{} IS NOT NULL").format(c) for c in cols)
    return sql.SQL(
        "SELECT {} FROM {} AS c WHERE ({}) AND NOT EXISTS (SELECT FROM {} AS p WHERE {}) LIMIT 1"
    ).format(
        sql.SQL(", ").join(sql.SQL("c.{}").format(c) for c in cols),
        ref,
        present,
        ctx.table_ref(target.table),
        joined,
    )
