"""Indexes, constraints and extended statistics on a twinned column die with the old column at
contract, so they are recreated on the twin: indexes CONCURRENTLY, rebuilt from their catalog
definition with the column rewritten (any access method, expressions, operator classes,
ordering, INCLUDE, predicate); constraints NOT VALID at expand, statistics at once; VALIDATE
at contract; once the old column is gone, the copies take the original names. A copy repeats
what the original carried: NULLS NOT DISTINCT, storage parameters, tablespace, comments,
deferrability, CLUSTER ON and replica identity.
"""

from __future__ import annotations

import dataclasses
import re

from psycopg import sql

from expandcontract.operations import ddl
from expandcontract.operations.base import (
    CATALOG,
    NONBLOCKING_LOCK_TIMEOUT_MS,
    SCAN,
    MigrationInvalid,
    PlannedStep,
)
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.expressions import catalog_sql, rename_columns
from expandcontract.operations.index_definition import check_rebuildable, parse_index_definition
from expandcontract.operations.state import LogicalColumn, VersionState, duplicate_name
from expandcontract.schema.model import Constraint, Index, Statistics, Table

_NOT_VALID = re.compile(r"\s+NOT VALID\s*$")


def _copy_index_name(index: Index) -> str:
    return ddl.object_name("_ec_new", index.name, suffix="idx")


def _copy_constraint_name(con: Constraint) -> str:
    return ddl.object_name("_ec_new", con.name, suffix="con")


def _copy_statistics_name(stat: Statistics) -> str:
    return ddl.object_name("_ec_new", stat.name, suffix="stat")


def _options(options: list[str]) -> sql.Composable:
    pairs = [option.partition("=") for option in options]
    return sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(key), sql.Literal(value))
        for key, _, value in pairs
    )


def _after_backfill(index: Index) -> bool:
    """UNIQUE NULLS NOT DISTINCT cannot be built while the twin is still NULL in every row
    not yet backfilled: its copy is built at contract. Until then the original index keeps
    enforcing it for both versions (new-version writes reach the old column through down)."""
    return index.unique and index.nulls_not_distinct


@dataclasses.dataclass
class TwinObjects:
    """The objects on one twinned column. An object over several twinned columns of a table
    (an index on (a, b), CHECK (a < b)) is copied once, by the operation on the first of them
    in table order, with every twinned column mapped to its twin."""

    table: str  # physical table
    old: str  # the old physical column
    indexes: list[Index] = dataclasses.field(default_factory=list)
    constraints: list[Constraint] = dataclasses.field(default_factory=list)
    statistics: list[Statistics] = dataclasses.field(default_factory=list)

    def _twins(self, ctx: PhaseContext) -> dict[str, str]:
        """Old physical column -> its twin, for every column of the table with a twin."""
        twins = {
            column.physical
            for table in ctx.state.tables.values()
            if table.physical == self.table
            for column in table.columns.values()
            if column.origin == "duplicated"
        } | {duplicate_name(self.old)}
        columns = ctx.physical.tables[self.table].columns
        return {c: duplicate_name(c) for c in columns if duplicate_name(c) in twins}

    def _mine(self, ctx: PhaseContext, uses: list[str]) -> bool:
        twins = self._twins(ctx)
        return next(c for c in twins if c in uses) == self.old

    def _indexes(self, ctx: PhaseContext) -> list[Index]:
        return [index for index in self.indexes if self._mine(ctx, index.uses)]

    def _constraints(self, ctx: PhaseContext) -> list[Constraint]:
        return [con for con in self.constraints if self._mine(ctx, con.columns)]

    def _statistics(self, ctx: PhaseContext) -> list[Statistics]:
        return [stat for stat in self.statistics if self._mine(ctx, stat.uses)]

    @classmethod
    def of(
        cls,
        state: VersionState,
        physical: Table,
        old: str,
        twin: LogicalColumn,
        *,
        column: str,
        where: str,
    ) -> TwinObjects:
        """What depends on ``old``; refuses (before anything runs) what ec cannot copy."""
        indexes = [
            index
            for index in physical.indexes.values()
            if old in index.uses and not index.primary and index.name not in state.dropped_indexes
        ]
        for index in indexes:
            if _copy_index_name(index) not in state.created_indexes:  # one copy per index
                state.claim_relation_name(_copy_index_name(index), physical.name, where)
            if index.replica_identity and twin.nullable:
                raise MigrationInvalid(
                    f"{where}: index {index.name!r} is the replica identity of "
                    f"{physical.name!r}, so {column!r} must stay NOT NULL",
                    "choose another replica identity first (ALTER TABLE … REPLICA IDENTITY)",
                )
            # Rewritten now (not only at expand): what cannot be copied is refused first.
            check_rebuildable(index, {old: twin.physical}, where=f"{where}: {index.name}")
        constraints = [
            con
            for con in physical.constraints.values()
            if old in con.columns and con.kind in ("c", "f", "x")
        ]
        for con in constraints:
            if con.kind == "x":
                raise MigrationInvalid(
                    f"{where}: exclusion constraint {con.name!r} uses {column!r}; changing "
                    "such a column is not supported yet"
                )
        statistics = [stat for stat in physical.statistics if old in stat.uses]
        return cls(physical.name, old, indexes, constraints, statistics)

    # expand

    def expand(self, ctx: PhaseContext) -> list[PlannedStep]:
        twins = self._twins(ctx)
        steps = [
            self._copy_index(ctx, index, twins)
            for index in self._indexes(ctx)
            if not _after_backfill(index)
        ]
        steps += [self._copy_constraint(ctx, con, twins) for con in self._constraints(ctx)]
        steps += [self._copy_statistics(ctx, stat, twins) for stat in self._statistics(ctx)]
        return steps

    def _copy_index(self, ctx: PhaseContext, index: Index, twins: dict[str, str]) -> PlannedStep:
        copy = _copy_index_name(index)
        where = f"index {index.name}"
        shape = parse_index_definition(index.definition, where=where).render(twins, where=where)
        clauses: list[sql.Composable] = []
        if index.nulls_not_distinct:
            clauses.append(sql.SQL(" NULLS NOT DISTINCT"))
        if index.options:
            clauses.append(sql.SQL(" WITH ({})").format(_options(index.options)))
        if index.tablespace:
            clauses.append(sql.SQL(" TABLESPACE {}").format(catalog_sql(index.tablespace)))
        if index.predicate:
            predicate = rename_columns(index.predicate, twins, where=where)
            clauses.append(sql.SQL(" WHERE {}").format(catalog_sql(predicate)))
        return PlannedStep(
            f"index:{index.name}",
            f"copy index {index.name} onto {twins[self.old]} CONCURRENTLY",
            (
                sql.SQL("CREATE {}INDEX CONCURRENTLY IF NOT EXISTS {} ON {} {}{}").format(
                    sql.SQL("UNIQUE " if index.unique else ""),
                    sql.Identifier(copy),
                    ctx.table_ref(self.table),
                    shape,
                    sql.Composed(clauses),
                ),
            ),
            "SHARE UPDATE EXCLUSIVE",
            SCAN,
            lock_timeout_ms=NONBLOCKING_LOCK_TIMEOUT_MS,
            transactional=False,
            creates_index=(ctx.schema, copy),
            statement_timeout_ms=0,
            stage="indexes",
        )

    def _copy_constraint(
        self, ctx: PhaseContext, con: Constraint, twins: dict[str, str]
    ) -> PlannedStep:
        definition = _NOT_VALID.sub("", con.definition)
        if con.kind == "c":
            body = definition.strip()[len("CHECK") :].strip()
            renamed = rename_columns(body, twins, where=con.name)
            clause = sql.SQL("CHECK {}").format(catalog_sql(renamed))
            lock = "ACCESS EXCLUSIVE"
        else:  # FOREIGN KEY (a, b) REFERENCES …: swap the column list, keep the rest
            _, _, rest = definition.partition(")")
            columns = [twins.get(c, c) for c in con.columns]
            clause = sql.SQL("FOREIGN KEY ({}){}").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in columns), catalog_sql(rest)
            )
            lock = "SHARE ROW EXCLUSIVE"
        ref, copy = ctx.table_ref(self.table), sql.Identifier(_copy_constraint_name(con))
        statements = [
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {} NOT VALID").format(ref, copy, clause)
        ]
        if con.comment is not None:
            statements.append(
                sql.SQL("COMMENT ON CONSTRAINT {} ON {} IS {}").format(
                    copy, ref, sql.Literal(con.comment)
                )
            )
        return PlannedStep(
            f"constraint:{con.name}",
            f"copy constraint {con.name} onto {twins[self.old]} NOT VALID",
            tuple(statements),
            lock,
            CATALOG,
            stage="constraints",
        )

    def _copy_statistics(
        self, ctx: PhaseContext, stat: Statistics, twins: dict[str, str]
    ) -> PlannedStep:
        copy = sql.Identifier(stat.schema, _copy_statistics_name(stat))
        keys: list[sql.Composable] = [sql.Identifier(twins.get(c, c)) for c in stat.columns]
        keys += [
            sql.SQL("({})").format(catalog_sql(rename_columns(e, twins, where=stat.name)))
            for e in stat.expressions
        ]
        kinds = (
            sql.SQL(" ({})").format(sql.SQL(", ").join(map(sql.SQL, stat.kinds)))
            if stat.kinds
            else sql.SQL("")
        )
        statements = [
            sql.SQL("CREATE STATISTICS {}{} ON {} FROM {}").format(
                copy, kinds, sql.SQL(", ").join(keys), ctx.table_ref(self.table)
            )
        ]
        if stat.target is not None:
            statements.append(
                sql.SQL("ALTER STATISTICS {} SET STATISTICS {}").format(
                    copy, sql.Literal(stat.target)
                )
            )
        if stat.comment is not None:
            statements.append(
                sql.SQL("COMMENT ON STATISTICS {} IS {}").format(copy, sql.Literal(stat.comment))
            )
        return PlannedStep(
            f"statistics:{stat.name}",
            f"copy statistics object {stat.name} onto {twins[self.old]}",
            tuple(statements),
            "SHARE UPDATE EXCLUSIVE",
            CATALOG,
            stage="constraints",
        )

    # contract

    def validate(self, ctx: PhaseContext) -> list[PlannedStep]:
        """Build the index copies that had to wait for the backfill, validate the constraint
        copies."""
        twins = self._twins(ctx)
        steps = [
            self._copy_index(ctx, index, twins)
            for index in self._indexes(ctx)
            if _after_backfill(index)
        ]
        return steps + [
            PlannedStep(
                f"constraint:{con.name}:validate",
                f"validate {_copy_constraint_name(con)}",
                (
                    sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(
                        ctx.table_ref(self.table), sql.Identifier(_copy_constraint_name(con))
                    ),
                ),
                "SHARE UPDATE EXCLUSIVE",
                SCAN,
                statement_timeout_ms=0,
                lock_timeout_ms=NONBLOCKING_LOCK_TIMEOUT_MS,
            )
            for con in self._constraints(ctx)
        ]

    def replica_identity(self, ctx: PhaseContext) -> list[PlannedStep]:
        """Before the swap drops the old index: the table's replica identity moves to the copy
        (the twin is NOT NULL by now), so logical replication never sees a table without one."""
        twins = self._twins(ctx)
        for index in self._indexes(ctx):
            shared = [c for c in twins if c in index.uses]
            if index.replica_identity and len(shared) > 1:
                raise MigrationInvalid(
                    f"index {index.name!r} is the replica identity of {self.table!r} and "
                    f"covers several columns this migration changes ({', '.join(shared)})",
                    "change them in separate migrations",
                )
        return [
            PlannedStep(
                f"index:{index.name}:replica-identity",
                f"replica identity of {self.table} uses {_copy_index_name(index)}",
                (
                    sql.SQL("ALTER TABLE {} REPLICA IDENTITY USING INDEX {}").format(
                        ctx.table_ref(self.table), sql.Identifier(_copy_index_name(index))
                    ),
                ),
                "ACCESS EXCLUSIVE",
                CATALOG,
            )
            for index in self._indexes(ctx)
            if index.replica_identity
        ]

    def take_names(self, ctx: PhaseContext, final_table: str) -> list[PlannedStep]:
        """After the swap: copies take the original names, unique constraints are re-attached
        USING INDEX with their deferrability; comments and CLUSTER ON follow."""
        ref = ctx.table_ref(final_table)
        physical = ctx.physical.tables[self.table]
        steps: list[PlannedStep] = []
        for index in self._indexes(ctx):
            copy = sql.Identifier(_copy_index_name(index))
            con = next((c for c in physical.constraints.values() if c.index == index.name), None)
            final = con.name if con else index.name
            statements: list[sql.Composed] = []
            if con:
                deferrable = (" DEFERRABLE" if con.deferrable else "") + (
                    " INITIALLY DEFERRED" if con.deferred else ""
                )
                statements.append(
                    sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} UNIQUE USING INDEX {}{}").format(
                        ref, sql.Identifier(con.name), copy, sql.SQL(deferrable)
                    )
                )
                if con.comment is not None:
                    statements.append(
                        sql.SQL("COMMENT ON CONSTRAINT {} ON {} IS {}").format(
                            sql.Identifier(con.name), ref, sql.Literal(con.comment)
                        )
                    )
            else:
                statements.append(
                    sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                        sql.Identifier(ctx.schema, _copy_index_name(index)),
                        sql.Identifier(index.name),
                    )
                )
            if index.comment is not None:
                statements.append(
                    sql.SQL("COMMENT ON INDEX {} IS {}").format(
                        sql.Identifier(ctx.schema, final), sql.Literal(index.comment)
                    )
                )
            if index.clustered:
                statements.append(
                    sql.SQL("ALTER TABLE {} CLUSTER ON {}").format(ref, sql.Identifier(final))
                )
            steps.append(
                PlannedStep(
                    f"index:{index.name}:swap",
                    f"index {_copy_index_name(index)} takes the name {final}",
                    tuple(statements),
                    "ACCESS EXCLUSIVE",
                    CATALOG,
                )
            )
        for con in self._constraints(ctx):
            steps.append(
                PlannedStep(
                    f"constraint:{con.name}:rename",
                    f"constraint {_copy_constraint_name(con)} takes the name {con.name}",
                    (
                        sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                            ref,
                            sql.Identifier(_copy_constraint_name(con)),
                            sql.Identifier(con.name),
                        ),
                    ),
                    "ACCESS EXCLUSIVE",
                    CATALOG,
                )
            )
        for stat in self._statistics(ctx):
            steps.append(
                PlannedStep(
                    f"statistics:{stat.name}:rename",
                    f"statistics object {_copy_statistics_name(stat)} takes the name {stat.name}",
                    (
                        sql.SQL("ALTER STATISTICS {} RENAME TO {}").format(
                            sql.Identifier(stat.schema, _copy_statistics_name(stat)),
                            sql.Identifier(stat.name),
                        ),
                    ),
                    "SHARE UPDATE EXCLUSIVE",
                    CATALOG,
                )
            )
        return steps
