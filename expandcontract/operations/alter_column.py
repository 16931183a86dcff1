"""alter_column: change type, nullability and/or default.

A default-only change needs no data movement (the new version's view gets the new default;
contract sets it on the table). A type or nullability change duplicates the column: the
new-version twin ``_ec_new_<col>`` is kept in sync by triggers (old writes -> ``up``, new
writes -> ``down``), backfilled, then swapped in at contract. Indexes on the column are
copied onto the twin CONCURRENTLY.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, ClassVar

from psycopg import sql

from expandcontract.operations import ddl
from expandcontract.operations.base import (
    CATALOG,
    NONBLOCKING_LOCK_TIMEOUT_MS,
    SCAN,
    DualWrite,
    MigrationInvalid,
    Operation,
    PlannedStep,
    flag,
    text,
)
from expandcontract.operations.expressions import (
    catalog_sql,
    check_expression,
    check_type,
    expression_sql,
    rename_columns,
    type_sql,
)
from expandcontract.operations.state import LogicalColumn, VersionState, duplicate_name
from expandcontract.schema.model import Constraint, Index

_UNSET = object()
# A serial column's default as the catalog prints it: nextval('name'::regclass).
_NOT_VALID = re.compile(r"\s+NOT VALID\s*$")
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
    _copies: list[Index] = dataclasses.field(default_factory=list)
    _constraints: list[Constraint] = dataclasses.field(default_factory=list)

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> AlterColumn:
        table, column = text(data, "table", where), text(data, "column", where)
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
        self._copies = [
            index
            for index in physical.indexes.values()
            if column.physical in index.uses
            and not index.primary
            and index.name not in state.dropped_indexes
        ]
        for index in self._copies:
            state.claim_relation_name(
                ddl.object_name("_ec_new", index.name, suffix="idx"), table.physical, where
            )
            if not index.plain or (index.predicate and column.physical in index.predicate):
                raise MigrationInvalid(
                    f"{where}: index {index.name!r} on {self.column!r} is not a plain btree over "
                    "columns (an expression, INCLUDE, ordering, operator class, other method or "
                    "a predicate on the column); ec cannot copy it onto the new column yet",
                    "drop it in this migration (drop_index) and create the new one with "
                    "create_index",
                )
        # Constraints on the column die with the old column at contract: recreate them on the
        # twin (NOT VALID now, VALIDATE at contract, then take the original names).
        self._constraints = [
            con
            for con in physical.constraints.values()
            if column.physical in con.columns and con.kind in ("c", "f", "x")
        ]
        for con in self._constraints:
            if con.kind == "x":
                raise MigrationInvalid(
                    f"{where}: exclusion constraint {con.name!r} uses {self.column!r}; changing "
                    "such a column is not supported yet"
                )

    def _down(self) -> str:
        # Without an explicit down the new value fits the old column as it is.
        return self.down if self.down is not None else sql.Identifier(self.column).as_string(None)

    def expand(self, ctx: Any) -> list[PlannedStep]:
        if not self.moves_data:
            return []
        assert self._new is not None
        ref, twin = ctx.table_ref(self._table), self._new.physical
        steps = [
            PlannedStep(
                f"twin:{self._old}",
                f"add twin column {self._table}.{twin} ({self._new.type}) for {self._old}",
                (
                    sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                        ref, sql.Identifier(twin), type_sql(self._new.type)
                    ),
                ),
                "ACCESS EXCLUSIVE",
                CATALOG,
            )
        ]
        if not self._new.nullable:
            steps.append(ddl.add_not_null_check(ctx, self._table, twin, f"nn:{twin}"))
        for index in self._copies:
            copy = ddl.object_name("_ec_new", index.name, suffix="idx")
            columns = sql.SQL(", ").join(
                sql.Identifier(twin if c == self._old else c) for c in index.columns
            )
            steps.append(
                PlannedStep(
                    f"index:{index.name}",
                    f"copy index {index.name} onto {twin} CONCURRENTLY",
                    (
                        sql.SQL("CREATE {}INDEX CONCURRENTLY IF NOT EXISTS {} ON {} ({}){}").format(
                            sql.SQL("UNIQUE " if index.unique else ""),
                            sql.Identifier(copy),
                            ref,
                            columns,
                            sql.SQL(" WHERE {}").format(catalog_sql(index.predicate))
                            if index.predicate
                            else sql.SQL(""),
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
            )
        steps += [self._copy_constraint(ctx, con) for con in self._constraints]
        return steps

    def _copy_name(self, con: Constraint) -> str:
        return ddl.object_name("_ec_new", con.name, suffix="con")

    def _copy_constraint(self, ctx: Any, con: Constraint) -> PlannedStep:
        assert self._new is not None
        definition = _NOT_VALID.sub("", con.definition)
        if con.kind == "c":
            body = definition.strip()[len("CHECK") :].strip()
            renamed = rename_columns(body, {self._old: self._new.physical}, where=con.name)
            clause = sql.SQL("CHECK {}").format(catalog_sql(renamed))
            lock = "ACCESS EXCLUSIVE"
        else:  # FOREIGN KEY (a, b) REFERENCES …: swap the column list, keep the rest
            _, _, rest = definition.partition(")")
            columns = [self._new.physical if c == self._old else c for c in con.columns]
            clause = sql.SQL("FOREIGN KEY ({}){}").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in columns), catalog_sql(rest)
            )
            lock = "SHARE ROW EXCLUSIVE"
        return PlannedStep(
            f"constraint:{con.name}",
            f"copy constraint {con.name} onto {self._new.physical} NOT VALID",
            (
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {} NOT VALID").format(
                    ctx.table_ref(self._table), sql.Identifier(self._copy_name(con)), clause
                ),
            ),
            lock,
            CATALOG,
            stage="constraints",
        )

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
        for con in self._constraints:
            steps.append(
                PlannedStep(
                    f"constraint:{con.name}:validate",
                    f"validate {self._copy_name(con)}",
                    (
                        sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(
                            ctx.table_ref(self._table), sql.Identifier(self._copy_name(con))
                        ),
                    ),
                    "SHARE UPDATE EXCLUSIVE",
                    SCAN,
                    statement_timeout_ms=0,
                    lock_timeout_ms=NONBLOCKING_LOCK_TIMEOUT_MS,
                )
            )
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
        """After the old column is dropped and the twin renamed: copied indexes take the
        original names (unique constraints re-attached USING INDEX), the default is set."""
        steps: list[PlannedStep] = []
        ref = ctx.table_ref(final_table)
        physical = ctx.physical.tables[self._table]
        for index in self._copies if self.moves_data else []:
            copy = ddl.object_name("_ec_new", index.name, suffix="idx")
            constraint = next(
                (c.name for c in physical.constraints.values() if c.index == index.name), None
            )
            statement = (
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} UNIQUE USING INDEX {}").format(
                    ref, sql.Identifier(constraint), sql.Identifier(copy)
                )
                if constraint
                else sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                    sql.Identifier(ctx.schema, copy), sql.Identifier(index.name)
                )
            )
            steps.append(
                PlannedStep(
                    f"index:{index.name}:swap",
                    f"index {copy} takes the name {constraint or index.name}",
                    (statement,),
                    "ACCESS EXCLUSIVE",
                    CATALOG,
                )
            )
        for con in self._constraints if self.moves_data else []:
            steps.append(
                PlannedStep(
                    f"constraint:{con.name}:rename",
                    f"constraint {self._copy_name(con)} takes the name {con.name}",
                    (
                        sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                            ref, sql.Identifier(self._copy_name(con)), sql.Identifier(con.name)
                        ),
                    ),
                    "ACCESS EXCLUSIVE",
                    CATALOG,
                )
            )
        if self.default is not _UNSET or self.moves_data:
            final_column = self._new.name if self._new else self.column
            default = self._new.default if self._new else None
            action = (
                sql.SQL("SET DEFAULT {}").format(expression_sql(default))
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
