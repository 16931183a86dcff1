"""Constraints built lock-safely, shared by create_constraint, drop_constraint,
rename_constraint and alter_column.

CHECK and FOREIGN KEY: ``ADD … NOT VALID`` at expand (catalog-only), ``VALIDATE`` at contract
(SHARE UPDATE EXCLUSIVE: reads and writes go on). UNIQUE and PRIMARY KEY: a unique index built
CONCURRENTLY at expand, ``ADD CONSTRAINT … USING INDEX`` at contract (catalog-only); a primary
key's columns are first proved NOT NULL by a validated CHECK, so ``USING INDEX`` scans nothing.

A name that still exists while the migration runs (same-name replace: ``drop_constraint X`` +
``create_constraint X``, or a ``rename_constraint`` away from X) is built under a temporary name
and takes its final name after the column swap, once the old X is gone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from psycopg import sql

from expandcontract.operations import ddl
from expandcontract.operations.base import (
    CATALOG,
    NONBLOCKING_LOCK_TIMEOUT_MS,
    SCAN,
    MigrationInvalid,
    PlannedStep,
    flag,
    identifier,
    text,
)
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.expressions import expression_sql
from expandcontract.operations.state import PENDING, PREFIX

KINDS = ("unique", "check", "foreign_key", "primary_key")
# Spliced as SQL keywords: only these spellings reach a statement.
FK_ACTIONS = {
    "no_action": "NO ACTION",
    "restrict": "RESTRICT",
    "cascade": "CASCADE",
    "set_null": "SET NULL",
    "set_default": "SET DEFAULT",
}
MATCHES = {"simple": "SIMPLE", "full": "FULL"}


def fk_action(data: Mapping[str, Any], key: str, where: str) -> str:
    """``cascade`` or PostgreSQL's spelling in any case (``SET NULL``) -> the snake form."""
    value = text(data, key, where, required=False)
    if value is None:
        return "no_action"
    snake = "_".join(value.lower().split())
    if snake not in FK_ACTIONS:
        raise MigrationInvalid(
            f"{where}: {key} {value!r} is not a foreign key action",
            f"one of {', '.join(FK_ACTIONS)}",
        )
    return snake


def name_list(value: Any, where: str, key: str) -> list[str]:
    """A non-empty list of column names (a bare name counts as a list of one)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise MigrationInvalid(f"{where}: {key} must be a non-empty list of column names")
    out = [identifier({key: item}, key, where, what="column name") for item in items]
    if len(set(out)) != len(out):
        raise MigrationInvalid(f"{where}: {key} names a column twice")
    return out


@dataclasses.dataclass(frozen=True)
class References:
    """The target of a foreign key, as the migration names it (new-version names)."""

    table: str
    columns: list[str]
    on_delete: str = "no_action"
    on_update: str = "no_action"
    match: str = "simple"

    @classmethod
    def parse(cls, data: Any, where: str) -> References:
        if not isinstance(data, Mapping):
            raise MigrationInvalid(f"{where}: references is a mapping with table and columns")
        allowed = {"table", "columns", "column", "on_delete", "on_update", "match", "name"}
        unknown = sorted(str(k) for k in set(data) - allowed)
        if unknown:
            raise MigrationInvalid(f"{where}: unknown references field(s) {', '.join(unknown)}")
        if ("columns" in data) == ("column" in data):
            raise MigrationInvalid(f"{where}: references needs either column or columns")
        key = "columns" if "columns" in data else "column"
        match = (text(data, "match", where, required=False) or "simple").lower()
        if match not in MATCHES:
            raise MigrationInvalid(f"{where}: match must be simple or full, got {match!r}")
        return cls(
            identifier(data, "table", where, what="table name"),
            name_list(data[key], where, key),
            fk_action(data, "on_delete", where),
            fk_action(data, "on_update", where),
            match,
        )

    def to_spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"table": self.table, "columns": list(self.columns)}
        for key, default in (("on_delete", "no_action"), ("on_update", "no_action")):
            if getattr(self, key) != default:
                out[key] = getattr(self, key)
        if self.match != "simple":
            out["match"] = self.match
        return out


def deferrable_flags(data: Mapping[str, Any], where: str, kind: str) -> tuple[bool, bool]:
    deferrable = bool(flag(data, "deferrable", where, False))
    deferred = bool(flag(data, "initially_deferred", where, False))
    if deferred and not deferrable:
        raise MigrationInvalid(f"{where}: initially_deferred needs deferrable: true")
    if deferrable and kind == "check":
        raise MigrationInvalid(f"{where}: a check constraint cannot be deferrable")
    return deferrable, deferred


@dataclasses.dataclass(frozen=True)
class Target:
    """A foreign key target resolved to physical names."""

    table: str
    columns: tuple[str, ...]
    on_delete: str
    on_update: str
    match: str


@dataclasses.dataclass(frozen=True)
class Built:
    """One constraint to build on a physical table (columns may be twins)."""

    kind: str  # unique | check | foreign_key | primary_key
    name: str  # its final name
    build_name: str  # the name while the migration runs (temporary when ``name`` is taken)
    table: str  # physical
    columns: tuple[str, ...]  # physical
    check: str | None = None  # in physical names
    target: Target | None = None
    deferrable: bool = False
    initially_deferred: bool = False
    nulls_not_distinct: bool = False
    # Primary key columns that may hold NULL now: a CHECK NOT VALID at expand, validated
    # and turned into SET NOT NULL at contract, before USING INDEX (which would scan).
    prove_not_null: tuple[str, ...] = ()
    # A unique index over twins that NULLS NOT DISTINCT cannot build before the backfill.
    index_after_backfill: bool = False
    include: tuple[str, ...] = ()  # physical; non-key columns of a unique/primary key index
    # A check on twins: a row whose `up` failed stays pending with NULL twins, and the old
    # version's write must go through (as for NOT NULL, ddl.add_not_null_check). Contract,
    # once no row is pending, validates the plain check under another name instead.
    escape_pending: bool = False

    @property
    def validated_name(self) -> str:
        """The name the constraint has after contract's VALIDATE, until after the swap."""
        if self.escape_pending:
            return ddl.object_name(f"{PREFIX}strict", self.name, suffix="con")
        return self.build_name

    @property
    def indexed(self) -> bool:
        return self.kind in ("unique", "primary_key")

    def _deferrable(self) -> sql.Composable:
        words = (" DEFERRABLE" if self.deferrable else "") + (
            " INITIALLY DEFERRED" if self.initially_deferred else ""
        )
        return sql.SQL(words)

    def _columns(self) -> sql.Composable:
        return sql.SQL(", ").join(sql.Identifier(c) for c in self.columns)

    def _index_step(self, ctx: PhaseContext) -> PlannedStep:
        nnd: sql.Composable = sql.SQL(" NULLS NOT DISTINCT" if self.nulls_not_distinct else "")
        if self.include:
            include = sql.SQL(", ").join(sql.Identifier(c) for c in self.include)
            nnd = sql.SQL("{} INCLUDE ({})").format(nnd, include)
        return PlannedStep(
            f"constraint:{self.name}:index",
            f"unique index {self.build_name} for {self.name} built CONCURRENTLY",
            (
                sql.SQL("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} ({}){}").format(
                    sql.Identifier(self.build_name), ctx.table_ref(self.table), self._columns(), nnd
                ),
            ),
            "SHARE UPDATE EXCLUSIVE",
            SCAN,
            lock_timeout_ms=NONBLOCKING_LOCK_TIMEOUT_MS,
            transactional=False,
            creates_index=(ctx.schema, self.build_name),
            statement_timeout_ms=0,
            stage="indexes",
        )

    def _nn_key(self, column: str) -> str:
        return f"constraint:{self.name}:nn:{column}"

    def expand(self, ctx: PhaseContext) -> list[PlannedStep]:
        ref, name = ctx.table_ref(self.table), sql.Identifier(self.build_name)
        if self.indexed:
            steps = [
                ddl.add_not_null_check(ctx, self.table, c, self._nn_key(c))
                for c in self.prove_not_null
            ]
            return steps + ([] if self.index_after_backfill else [self._index_step(ctx)])
        if self.kind == "check":
            assert self.check is not None
            clause = sql.SQL("CHECK ({})").format(expression_sql(self.check))
            if self.escape_pending:
                clause = sql.SQL("CHECK (({}) OR {})").format(
                    expression_sql(self.check), sql.Identifier(PENDING)
                )
            lock = "ACCESS EXCLUSIVE"
        else:
            target = self.target
            assert target is not None
            clause = sql.SQL(
                "FOREIGN KEY ({}) REFERENCES {} ({}) MATCH {} ON DELETE {} ON UPDATE {}{}"
            ).format(
                self._columns(),
                ctx.table_ref(target.table),
                sql.SQL(", ").join(sql.Identifier(c) for c in target.columns),
                sql.SQL(MATCHES[target.match]),
                sql.SQL(FK_ACTIONS[target.on_delete]),
                sql.SQL(FK_ACTIONS[target.on_update]),
                self._deferrable(),
            )
            lock = "SHARE ROW EXCLUSIVE (both tables)"
        return [
            PlannedStep(
                f"constraint:{self.name}",
                f"{self.kind} constraint {self.build_name} on {self.table} NOT VALID (no scan)",
                (
                    sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {} NOT VALID").format(
                        ref, name, clause
                    ),
                ),
                lock,
                CATALOG,
                stage="constraints",
            )
        ]

    def contract(self, ctx: PhaseContext) -> list[PlannedStep]:
        """Before the column swap: VALIDATE, or attach the unique index as the constraint
        (under the build name: a replaced constraint of the final name may still exist)."""
        ref, name = ctx.table_ref(self.table), sql.Identifier(self.build_name)
        if not self.indexed:
            validated = sql.Identifier(self.validated_name)
            steps = []
            if self.escape_pending:
                assert self.check is not None
                steps.append(
                    PlannedStep(
                        f"constraint:{self.name}:strict",
                        f"check {self.validated_name} for every row, NOT VALID (no scan)",
                        (
                            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({}) NOT VALID").format(
                                ref, validated, expression_sql(self.check)
                            ),
                        ),
                        "ACCESS EXCLUSIVE",
                        CATALOG,
                    )
                )
            steps.append(
                PlannedStep(
                    f"constraint:{self.name}:validate",
                    f"validate {self.validated_name} (existing rows checked, writes go on)",
                    (sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(ref, validated),),
                    "SHARE UPDATE EXCLUSIVE",
                    SCAN,
                    statement_timeout_ms=0,
                    lock_timeout_ms=NONBLOCKING_LOCK_TIMEOUT_MS,
                )
            )
            if self.escape_pending:
                steps.append(drop_step(ctx, self.table, self.build_name))
            return steps
        steps = [self._index_step(ctx)] if self.index_after_backfill else []
        for column in self.prove_not_null:
            steps += ddl.finish_not_null(ctx, self.table, column, self._nn_key(column))
        kind = sql.SQL("PRIMARY KEY" if self.kind == "primary_key" else "UNIQUE")
        steps.append(
            PlannedStep(
                f"constraint:{self.name}:attach",
                f"{self.kind} constraint {self.build_name} USING INDEX (no scan)",
                (
                    sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {} USING INDEX {}{}").format(
                        ref, name, kind, name, self._deferrable()
                    ),
                ),
                "ACCESS EXCLUSIVE",
                CATALOG,
            )
        )
        return steps

    def after_swap(self, ctx: PhaseContext) -> list[PlannedStep]:
        current = self.validated_name
        if current == self.name:
            return []
        return [rename_step(ctx, self.table, current, self.name, f"{self.name}:name")]

    def rollback(self, ctx: PhaseContext) -> list[PlannedStep]:
        """What expand built (on twins it is already gone with them: IF EXISTS)."""
        ref = ctx.table_ref(self.table)
        checks = [
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(
                ref, sql.Identifier(ddl.not_null_check(self.table, c))
            )
            for c in self.prove_not_null
        ]
        if self.indexed:
            drop = ddl.drop_index_concurrently(ctx.schema, self.build_name)
            steps = [dataclasses.replace(drop, key=f"constraint:{self.name}:drop-index")]
            if checks:
                steps.append(
                    PlannedStep(
                        f"constraint:{self.name}:drop-nn",
                        f"drop the NOT NULL checks for {self.name}",
                        tuple(checks),
                        "ACCESS EXCLUSIVE",
                        CATALOG,
                    )
                )
            return steps
        names = dict.fromkeys((self.build_name, self.validated_name))
        return [
            PlannedStep(
                f"constraint:{self.name}:drop",
                f"drop constraint {self.build_name}",
                tuple(
                    sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(
                        ref, sql.Identifier(name)
                    )
                    for name in names
                ),
                "ACCESS EXCLUSIVE",
                CATALOG,
            )
        ]


def rename_step(ctx: PhaseContext, table: str, old: str, new: str, key: str) -> PlannedStep:
    """Catalog-only; a unique or primary key constraint's index takes the new name too."""
    return PlannedStep(
        f"constraint:{key}",
        f"constraint {old} takes the name {new}",
        (
            sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                ctx.table_ref(table), sql.Identifier(old), sql.Identifier(new)
            ),
        ),
        "ACCESS EXCLUSIVE",
        CATALOG,
    )


def drop_step(ctx: PhaseContext, table: str, name: str) -> PlannedStep:
    return PlannedStep(
        f"constraint:{name}:drop",
        f"drop constraint {name} of {table}",
        (
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(
                ctx.table_ref(table), sql.Identifier(name)
            ),
        ),
        "ACCESS EXCLUSIVE",
        CATALOG,
    )
