"""Duplicate a column behind triggers: the mechanism every data-moving operation shares (pgroll's
``duplicate.go``).

The new version gets a twin ``_ec_new_<col>`` added at the end of the table (catalog-only),
kept in sync by the dual-write trigger (old writes -> ``up``, new writes -> ``down``),
backfilled, and swapped in at contract. The twin carries what the user configured on the
column (privileges, comment, statistics, storage, collation: column_settings); indexes,
constraints and statistics objects on it are copied (twin_objects). After contract the column
is the last one of the table.
"""

from __future__ import annotations

import dataclasses
import re

from psycopg import sql

from expandcontract.operations import column_settings, ddl
from expandcontract.operations.base import CATALOG, DualWrite, PlannedStep
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.expressions import catalog_sql, type_sql
from expandcontract.operations.state import (
    LogicalColumn,
    LogicalTable,
    VersionState,
    duplicate_name,
)
from expandcontract.operations.twin_objects import TwinObjects

# A serial column's default as the catalog prints it: nextval('name'::regclass).
_NEXTVAL = re.compile(r"^nextval\('((?:[^']|'')+)'::regclass\)$")


@dataclasses.dataclass(frozen=True)
class DuplicatedColumn:
    table: str  # physical table
    old: str  # the physical column the old version uses
    twin: LogicalColumn  # the new version's column (physical name: the twin)
    objects: TwinObjects  # indexes, constraints, statistics copied onto the twin

    @classmethod
    def create(
        cls,
        state: VersionState,
        table: LogicalTable,
        column: LogicalColumn,
        *,
        type_: str,
        nullable: bool,
        op: str,
        where: str,
    ) -> DuplicatedColumn:
        """Claim ``column`` for ``op`` and put its twin into the new version's state."""
        state.claim(table, column.physical, op, where)
        twin = LogicalColumn(
            column.name,
            duplicate_name(column.physical),
            type_,
            nullable,
            column.default,
            "",
            "duplicated",
        )
        table.columns[column.name] = twin
        table.needs_backfill = True
        physical = state.physical.tables[table.physical]
        objects = TwinObjects.of(
            state, physical, column.physical, twin, column=column.name, where=where
        )
        return cls(table.physical, column.physical, twin, objects)

    def old_type(self, ctx: PhaseContext) -> str:
        return ctx.physical.tables[self.table].columns[self.old].type

    def expand(self, ctx: PhaseContext) -> list[PlannedStep]:
        ref, twin = ctx.table_ref(self.table), self.twin.physical
        # What the user configured on the column goes onto the twin with it, so the new
        # version (and, after the swap, the final column) has the same privileges and settings.
        source = ctx.physical.tables[self.table].columns[self.old]
        traits = ctx.type_traits.get(self.twin.type)
        steps = [
            PlannedStep(
                f"twin:{self.old}",
                f"add twin column {self.table}.{twin} ({self.twin.type}) for {self.old}",
                (
                    sql.SQL("ALTER TABLE {} ADD COLUMN {} {}{}").format(
                        ref,
                        sql.Identifier(twin),
                        type_sql(self.twin.type),
                        column_settings.collate_clause(source, traits),
                    ),
                    *column_settings.copy_statements(
                        ref,
                        twin,
                        source,
                        traits,
                        ctx.column_grants.get((self.table, self.old), []),
                    ),
                ),
                "ACCESS EXCLUSIVE",
                CATALOG,
            )
        ]
        if not self.twin.nullable:
            steps.append(ddl.add_not_null_check(ctx, self.table, twin, f"nn:{twin}"))
        return steps + self.objects.expand(ctx)

    def dual_writes(self, up: str, down: str) -> list[DualWrite]:
        return [
            DualWrite(self.table, self.twin.physical, up, "up", "always"),
            DualWrite(self.table, self.old, down, "down", "always"),
        ]

    def contract(self, ctx: PhaseContext) -> list[PlannedStep]:
        """Before the central column swap: prove NOT NULL on the twin, validate the copies, move
        the replica identity, and hand an owned sequence (serial) over to the twin so dropping
        the old column does not drop it."""
        steps: list[PlannedStep] = []
        if not self.twin.nullable:
            steps += ddl.finish_not_null(
                ctx, self.table, self.twin.physical, f"nn:{self.twin.physical}"
            )
        steps += self.objects.validate(ctx)
        steps += self.objects.replica_identity(ctx)
        default = ctx.physical.tables[self.table].columns[self.old].default or ""
        sequence = _NEXTVAL.search(default)
        if sequence:
            steps.append(
                PlannedStep(
                    f"sequence:{self.old}",
                    f"sequence {sequence.group(1)} now owned by {self.twin.physical}",
                    (
                        sql.SQL("ALTER SEQUENCE {} OWNED BY {}.{}").format(
                            catalog_sql(sequence.group(1)),
                            ctx.table_ref(self.table),
                            sql.Identifier(self.twin.physical),
                        ),
                    ),
                    "ACCESS EXCLUSIVE (sequence)",
                    CATALOG,
                )
            )
        return steps

    def after_swap(self, ctx: PhaseContext) -> list[PlannedStep]:
        """The twin now has the column's name: copies take the original names, and so does
        the NOT NULL constraint (PostgreSQL 18+)."""
        return self.objects.take_names(ctx, self.table) + self._name_not_null(ctx)

    def _name_not_null(self, ctx: PhaseContext) -> list[PlannedStep]:
        """PostgreSQL 18 catalogs NOT NULL as a named constraint: SET NOT NULL named the
        twin's after the twin. It takes the name the old column's constraint had, else the
        name PostgreSQL gives a column's NOT NULL constraint (``<table>_<column>_not_null``)."""
        if self.twin.nullable or ctx.physical.server_version < 180000:
            return []
        table = ctx.physical.tables[self.table]
        taken = column_settings.constraint_names(ctx.physical)
        current = column_settings.choose_constraint_name(
            self.table, self.twin.physical, "not_null", taken
        )
        previous = next(
            (
                c.name
                for c in table.constraints.values()
                if c.kind == "n" and c.columns == [self.old]
            ),
            None,
        )
        final = previous or column_settings.choose_constraint_name(
            self.table, self.twin.name, "not_null", taken
        )
        return [
            PlannedStep(
                f"not-null:{self.twin.name}:rename",
                f"NOT NULL constraint {current} takes the name {final}",
                (
                    sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                        ctx.table_ref(self.table), sql.Identifier(current), sql.Identifier(final)
                    ),
                ),
                "ACCESS EXCLUSIVE",
                CATALOG,
            )
        ]

    def rollback(self, ctx: PhaseContext) -> list[PlannedStep]:
        return [
            PlannedStep(
                f"drop-twin:{self.old}",
                f"drop twin column {self.table}.{self.twin.physical}",
                (
                    sql.SQL("ALTER TABLE {} DROP COLUMN IF EXISTS {}").format(
                        ctx.table_ref(self.table), sql.Identifier(self.twin.physical)
                    ),
                ),
                "ACCESS EXCLUSIVE",
                CATALOG,
            )
        ]
