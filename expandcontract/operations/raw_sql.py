"""sql: the escape hatch. ``up`` runs at expand (or at contract with ``on: contract``); ``down``
undoes an expand-time ``up`` on rollback.

ec cannot see inside the text. ``tables: [..]`` declares the tables it creates or changes
(adds columns to): right after the sql has run, the new version's view of each is built from
the catalog (operations/sql_views.py). Undeclared sql stays opaque: the new version's views
know only what ec's own operations describe, and `ec plan` warns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import sqlglot
from psycopg import sql
from sqlglot import exp

from expandcontract.operations.base import (
    MigrationInvalid,
    Operation,
    PlannedStep,
    Resolved,
    check_name,
    text,
)
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.sql_views import (
    Declared,
    created_by_sql,
    declare,
    refresh_step,
)
from expandcontract.operations.state import PREFIX, VersionState
from expandcontract.runner.runner import NON_TRANSACTIONAL


@dataclasses.dataclass
class RawSql(Operation):
    kind: ClassVar[str] = "sql"

    up: str
    down: str | None = None
    on: str = "expand"
    tables: tuple[str, ...] = ()

    @classmethod
    def _build(cls, data: dict[str, Any], *, where: str) -> RawSql:
        up = text(data, "up", where)
        assert up is not None
        on = text(data, "on", where, required=False) or "expand"
        if on not in ("expand", "contract"):
            raise MigrationInvalid(f"{where}: on must be expand or contract, got {on!r}")
        return cls(up, text(data, "down", where, required=False), on, _tables(data, where))

    def to_spec(self) -> dict[str, Any]:
        # `on` is always written: checksums of migrations applied by earlier releases hold it.
        return {"on": self.on, **super().to_spec()}

    def apply(self, state: VersionState, *, where: str) -> Resolved:
        declared = [_declaration(state, self, name, where) for name in self.tables]
        for d in declared:
            declare(state, d)
        return _Opaque(self, tuple(declared))


def _tables(data: dict[str, Any], where: str) -> tuple[str, ...]:
    raw = data.get("tables")
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise MigrationInvalid(
            f"{where}: tables must be a list of table names, got {raw!r}",
            "name each table the sql creates or changes, e.g. tables: [users]",
        )
    for i, name in enumerate(raw):
        check_name(name, f"{where}: tables[{i}]", what="table name")
        if not name.strip() or "." in name:
            raise MigrationInvalid(
                f"{where}: tables[{i}] must be an unqualified table name, got {name!r}",
                "the sql's tables live in the base schema: write the name without a schema",
            )
        if name.startswith(PREFIX):
            raise MigrationInvalid(f"{where}: names starting with {PREFIX!r} are reserved for ec")
    duplicates = sorted({t for t in raw if raw.count(t) > 1})
    if duplicates:
        raise MigrationInvalid(f"{where}: tables lists {', '.join(duplicates)} twice")
    return tuple(raw)


def _declaration(state: VersionState, op: RawSql, name: str, where: str) -> Declared:
    """A declared table must be one the new version shows under its base name, or a name
    still free (the sql creates it)."""
    if name in state.dropped_tables:
        raise MigrationInvalid(f"{where}: table {name!r} is dropped earlier in this migration")
    known = [t for t in state.tables.values() if name in (t.name, t.physical)]
    if any(t.name != t.physical for t in known):
        raise MigrationInvalid(
            f"{where}: table {name!r} is renamed in this migration; the sql would see one "
            "name and the new version another",
            "change it with sql in a migration before or after the rename",
        )
    if known:
        return Declared(name, op.on, where, created=False)
    if created_by_sql(state, name):
        return Declared(name, op.on, where, created=True)
    if name in state.physical.relation_names():
        raise MigrationInvalid(
            f"{where}: {name!r} is declared in tables:, but that name belongs to another "
            f"object in schema {state.physical.name!r} (an index or a view)"
        )
    return Declared(name, op.on, where, created=True)


@dataclasses.dataclass(frozen=True)
class _Opaque(Resolved):
    op: RawSql
    declared: tuple[Declared, ...] = ()

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
        # An expand-time sql's tables get their views with every other view (engine/views.py).
        return [self._step("up", self.op.up)] if self.op.on == "expand" else []

    def contract(self, ctx: PhaseContext) -> list[PlannedStep]:
        if self.op.on != "contract":
            return []
        return [self._step("up", self.op.up)] + [refresh_step(ctx, d) for d in self.declared]

    def rollback(self, ctx: PhaseContext) -> list[PlannedStep]:
        # The views of declared tables went with the version schema, dropped first.
        if self.op.on == "expand" and self.op.down:
            return [self._step("down", self.op.down)]
        return []


def sql_warnings(operations: Sequence[Operation]) -> list[str]:
    """What `ec plan` says about each sql operation: what the new version will see."""
    out = []
    for i, op in enumerate(operations, start=1):
        if not isinstance(op, RawSql):
            continue
        where = f"operation {i} (sql)"
        undeclared = sorted(set(_tables_written(op.up)) - set(op.tables))
        if op.tables:
            out.append(
                f"{where}: the new version's views of {', '.join(op.tables)} are built from the "
                f"catalog right after the sql runs ({op.on}); the old version's schema is "
                "not changed"
            )
        if undeclared:
            out.append(
                f"{where} creates or alters {', '.join(undeclared)} without declaring "
                "it in tables: the new version's views will not show what it adds; "
                f"add tables: [{', '.join(undeclared)}]"
            )
        elif not op.tables:
            out.append(
                f"{where} is opaque to ec: the new version's views show only tables and "
                "columns described by ec's own operations; declare the tables it creates or "
                "changes with tables: [..]"
            )
    return out


def _tables_written(text_: str) -> list[str]:
    """Unqualified tables the sql creates or alters, as far as sqlglot reads it (a hint for
    the warning; the declaration is what ec acts on)."""
    try:
        statements = sqlglot.parse(text_, read="postgres")
    except sqlglot.errors.SqlglotError:
        return []
    out = []
    for statement in statements:
        if isinstance(statement, exp.Create) and str(statement.args.get("kind", "")) == "TABLE":
            target = statement.this
            table = target.this if isinstance(target, exp.Schema) else target
        elif isinstance(statement, exp.Alter) and str(statement.args.get("kind", "")) == "TABLE":
            table = statement.this
        else:
            continue
        if isinstance(table, exp.Table) and not table.db:
            out.append(table.name)
    return out
