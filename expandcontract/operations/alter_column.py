"""alter_column: change type, nullability and/or default.

A default-only change needs no data movement (the new version's view gets the new default;
contract sets it on the table). A type or nullability change duplicates the column: the
new-version twin ``_ec_new_<col>`` is kept in sync by triggers (old writes -> ``up``, new
writes -> ``down``), backfilled, then swapped in at contract. The twin gets what the user
configured on the column (privileges, comment, statistics, storage, collation: see
column_settings); indexes, constraints and statistics objects on it are copied (twin_objects).
A twin is added at the end of the table, so after contract the column is the last one.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, ClassVar

from psycopg import sql

from expandcontract.operations import column_settings, ddl
from expandcontract.operations.base import (
    CATALOG,
    DualWrite,
    MigrationInvalid,
    Operation,
    PlannedStep,
    flag,
    identifier,
    text,
)
from expandcontract.operations.expressions import (
    catalog_sql,
    check_expression,
    check_type,
    expression_sql,
    type_sql,
)
from expandcontract.operations.state import LogicalColumn, VersionState, duplicate_name
from expandcontract.operations.twin_objects import TwinObjects

_UNSET = object()
# A serial column's default as the catalog prints it: nextval('name'::regclass).
_NEXTVAL = re.compile(r"^nextval\('((?:[^']|'')+)'::regclass\)$")


@dataclasses.dataclass
class AlterColumn(Operation):
    kind: ClassVar[str] = "alter_column"
    fields: ClassVar[dict[str, bool]] = {
        "table": True,
        "column": True,
        "type": False,
        "nullable": False,
        "default": False,
        "up": False,
        "down": False,
    }

    table: str
    column: str
    type: str | None = None
    nullable: bool | None = None
    default: Any = _UNSET  # a SQL expression, None to drop the default, _UNSET to keep it
    up: str | None = None
    down: str | None = None
    # Resolved by apply():
    _table: str = ""
    _old: str = ""  # physical column the old version uses
    _new: LogicalColumn | None = None
    _objects: TwinObjects | None = None  # indexes, constraints, statistics on the column

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
        check_type(op.type, what=f"{where}: type")
        for key, value in (("up", op.up), ("down", op.down), ("default", op.default)):
            check_expression(value if isinstance(value, str) else None, what=f"{where}: {key}")
        if op.type is None and op.nullable is None and op.default is _UNSET:
            raise MigrationInvalid(f"{where}: alter_column needs type, nullable or default")
        return op

    def to_spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"table": self.table, "column": self.column}
        for key in ("type", "nullable", "up", "down"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.default is not _UNSET:
            out["default"] = self.default
        return out

    @property
    def moves_data(self) -> bool:
        return self._new is not None and self._new.origin == "duplicated"

    def apply(self, state: VersionState, *, where: str) -> None:
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
        self._table, self._old = table.physical, column.physical
        if self.default is not _UNSET:
            column.default = self.default
        if not (type_changes or null_changes):
            self._new = column  # default-only: nothing to move
            return
        source = physical.columns[column.physical]
        if source.identity or source.generated:
            raise MigrationInvalid(
                f"{where}: changing the type or nullability of identity or generated column "
                f"{self.column!r} is not supported yet"
            )
        if column.physical in physical.primary_key:
            raise MigrationInvalid(
                f"{where}: changing the type or nullability of primary key column "
                f"{self.column!r} is not supported yet"
            )
        if self.up is None:
            raise MigrationInvalid(
                f"{where}: changing {self.table}.{self.column} moves data, so it needs `up`: "
                "the new value computed from the old version's columns",
                f"e.g. up: \"{self.column}::{new_type}\"" if type_changes else
                f"e.g. up: \"coalesce({self.column}, <value>)\"",
            )  # fmt: skip
        old_accepts_new_values = not type_changes and (self.nullable is False or column.nullable)
        if self.down is None and not old_accepts_new_values:
            raise MigrationInvalid(
                f"{where}: {self.table}.{self.column} needs `down`: the value the old version "
                "sees for rows the new version writes",
                "names in down refer to the new version's columns",
            )
        state.claim(table, column.physical, "alter_column", where)
        twin = LogicalColumn(
            column.name,
            duplicate_name(column.physical),
            new_type,
            column.nullable if self.nullable is None else self.nullable,
            column.default,
            "",
            "duplicated",
        )
        table.columns[self.column] = twin
        table.needs_backfill = True
        self._new = twin
        self._objects = TwinObjects.of(
            state, physical, column.physical, twin, column=self.column, where=where
        )

    def _down(self) -> str:
        # Without an explicit down the new value fits the old column as it is.
        return self.down if self.down is not None else sql.Identifier(self.column).as_string(None)

    def expand(self, ctx: Any) -> list[PlannedStep]:
        if not self.moves_data:
            return []
        assert self._new is not None
        ref, twin = ctx.table_ref(self._table), self._new.physical
        # What the user configured on the column goes onto the twin with it, so the new
        # version (and, after the swap, the final column) has the same privileges and settings.
        source = ctx.physical.tables[self._table].columns[self._old]
        traits = ctx.type_traits.get(self._new.type)
        steps = [
            PlannedStep(
                f"twin:{self._old}",
                f"add twin column {self._table}.{twin} ({self._new.type}) for {self._old}",
                (
                    sql.SQL("ALTER TABLE {} ADD COLUMN {} {}{}").format(
                        ref,
                        sql.Identifier(twin),
                        type_sql(self._new.type),
                        column_settings.collate_clause(source, traits),
                    ),
                    *column_settings.copy_statements(
                        ref,
                        twin,
                        source,
                        traits,
                        ctx.column_grants.get((self._table, self._old), []),
                    ),
                ),
                "ACCESS EXCLUSIVE",
                CATALOG,
            )
        ]
        if not self._new.nullable:
            steps.append(ddl.add_not_null_check(ctx, self._table, twin, f"nn:{twin}"))
        assert self._objects is not None
        return steps + self._objects.expand(ctx)

    def dual_writes(self, ctx: Any) -> list[DualWrite]:
        if not self.moves_data:
            return []
        assert self._new is not None and self.up is not None
        return [
            DualWrite(self._table, self._new.physical, self.up, "up", "always"),
            DualWrite(self._table, self._old, self._down(), "down", "always"),
        ]

    def contract(self, ctx: Any) -> list[PlannedStep]:
        """Before the central column swap: prove NOT NULL on the twin, and hand an owned
        sequence (serial) over to the twin so dropping the old column does not drop it."""
        if not self.moves_data or self._new is None:
            return []
        steps: list[PlannedStep] = []
        if not self._new.nullable:
            steps += ddl.finish_not_null(
                ctx, self._table, self._new.physical, f"nn:{self._new.physical}"
            )
        assert self._objects is not None
        steps += self._objects.validate(ctx)
        steps += self._objects.replica_identity(ctx)
        default = ctx.physical.tables[self._table].columns[self._old].default or ""
        sequence = _NEXTVAL.search(default)
        if sequence:
            steps.append(
                PlannedStep(
                    f"sequence:{self._old}",
                    f"sequence {sequence.group(1)} now owned by {self._new.physical}",
                    (
                        sql.SQL("ALTER SEQUENCE {} OWNED BY {}.{}").format(
                            catalog_sql(sequence.group(1)),
                            ctx.table_ref(self._table),
                            sql.Identifier(self._new.physical),
                        ),
                    ),
                    "ACCESS EXCLUSIVE (sequence)",
                    CATALOG,
                )
            )
        return steps

    def after_swap(self, ctx: Any, final_table: str) -> list[PlannedStep]:
        """After the old column is dropped and the twin renamed: copied indexes, constraints
        and statistics take the original names, so does the NOT NULL constraint (PostgreSQL
        18+), and the default is set."""
        steps: list[PlannedStep] = []
        ref = ctx.table_ref(final_table)
        if self.moves_data:
            assert self._objects is not None
            steps += self._objects.take_names(ctx, final_table)
        if self.moves_data:
            steps += self._name_not_null(ctx, ref)
        if self.default is not _UNSET or self.moves_data:
            final_column = self._new.name if self._new else self.column
            default = self._new.default if self._new else None
            action = (
                sql.SQL("SET DEFAULT ({})").format(expression_sql(default))
                if default is not None
                else sql.SQL("DROP DEFAULT")
            )
            steps.append(
                PlannedStep(
                    f"default:{final_column}",
                    f"default of {final_table}.{final_column}",
                    (
                        sql.SQL("ALTER TABLE {} ALTER COLUMN {} {}").format(
                            ref, sql.Identifier(final_column), action
                        ),
                    ),
                    "ACCESS EXCLUSIVE",
                    CATALOG,
                )
            )
        return steps

    def _name_not_null(self, ctx: Any, ref: sql.Identifier) -> list[PlannedStep]:
        """PostgreSQL 18 catalogs NOT NULL as a named constraint: SET NOT NULL named the
        twin's after the twin. It takes the name the old column's constraint had, else the
        name PostgreSQL gives a column's NOT NULL constraint (``<table>_<column>_not_null``)."""
        assert self._new is not None
        if self._new.nullable or ctx.physical.server_version < 180000:
            return []
        table = ctx.physical.tables[self._table]
        taken = column_settings.constraint_names(ctx.physical)
        current = column_settings.choose_constraint_name(
            self._table, self._new.physical, "not_null", taken
        )
        previous = next(
            (
                c.name
                for c in table.constraints.values()
                if c.kind == "n" and c.columns == [self._old]
            ),
            None,
        )
        final = previous or column_settings.choose_constraint_name(
            self._table, self._new.name, "not_null", taken
        )
        return [
            PlannedStep(
                f"not-null:{self._new.name}:rename",
                f"NOT NULL constraint {current} takes the name {final}",
                (
                    sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                        ref, sql.Identifier(current), sql.Identifier(final)
                    ),
                ),
                "ACCESS EXCLUSIVE",
                CATALOG,
            )
        ]

    def rollback(self, ctx: Any) -> list[PlannedStep]:
        if not self.moves_data or self._new is None:
            return []
        return [
            PlannedStep(
                f"drop-twin:{self._old}",
                f"drop twin column {self._table}.{self._new.physical}",
                (
                    sql.SQL("ALTER TABLE {} DROP COLUMN IF EXISTS {}").format(
                        ctx.table_ref(self._table), sql.Identifier(self._new.physical)
                    ),
                ),
                "ACCESS EXCLUSIVE",
                CATALOG,
            )
        ]
