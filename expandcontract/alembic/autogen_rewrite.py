"""Rewrites what Alembic's comparators found into a revision that keeps the running app working:

- a new (or dropped) index on an existing table: ``postgresql_concurrently=True`` in an
  autocommit block;
- a type or nullability change, a dropped column, a dropped table: one ``op.expand_contract``
  with ec's ``alter_column`` / ``drop_column`` / ``drop_table``, with ``up``/``down`` that are
  right for the common case and marked for review;
- a dropped and an added column of the same type in one table: a comment suggesting ec's
  ``rename_column``.

Everything else (new tables, nullable columns, comments, defaults) stays Alembic's own: it is
already safe. Only the base schema ec manages (its ``schema`` setting) is converted; ec's
operations name no schema.
"""

from __future__ import annotations

import json
from typing import Any

from alembic.operations import ops

from expandcontract.alembic.autogen_ops import (
    REVIEW,
    ConcurrentIndexOp,
    EcEntry,
    ExpandContractOp,
    ReviewNoteOp,
)

_ENTRY_ORDER = ("add_column", "alter_column", "drop_column", "drop_table")


class _Rewrite:
    def __init__(self, autogen_context: Any, base_schema: str) -> None:
        self.dialect = autogen_context.dialect
        self.default_schema = autogen_context.dialect.default_schema_name
        self.base_schema = base_schema
        self.entries: list[EcEntry] = []
        self.replaced: list[ops.MigrateOperation] = []
        self.index_ops: list[ops.MigrateOperation] = []
        self.adds: list[tuple[ops.ModifyTableOps, ops.AddColumnOp]] = []
        self.drops: list[tuple[ops.ModifyTableOps, ops.DropColumnOp]] = []

    # -- helpers --------------------------------------------------------------------------
    def converts(self, schema: str | None) -> bool:
        return (schema or self.default_schema) == self.base_schema

    def type_sql(self, type_: Any) -> str:
        return str(type_.compile(dialect=self.dialect)).lower()

    def ident(self, name: str) -> str:
        # The dialect's own quoting: bare when PostgreSQL reads the name as written.
        return str(self.dialect.identifier_preparer.quote(name))

    # -- the pass -------------------------------------------------------------------------
    def run(self, upgrade_ops: ops.UpgradeOps) -> None:
        dropped_tables = {
            op.table_name
            for op in upgrade_ops.ops
            if isinstance(op, ops.DropTableOp) and self.converts(op.schema)
        }
        created_tables = {
            (op.schema, op.table_name)
            for op in upgrade_ops.ops
            if isinstance(op, ops.CreateTableOp)
        }
        kept: list[ops.MigrateOperation] = []
        for op in upgrade_ops.ops:
            if isinstance(op, ops.ModifyTableOps):
                new_table = (op.schema, op.table_name) in created_tables
                self.table_ops(op, dropped=op.table_name in dropped_tables, new_table=new_table)
                kept.append(op)
            elif isinstance(op, ops.DropTableOp) and self.converts(op.schema):
                self.drop_table(op)
            else:
                kept.append(op)
        # Added columns join ec's migration when there is one (one migration, run by ec's safe
        # runner), and always when NOT NULL without a default: Alembic's ADD COLUMN would fail
        # on a table with rows. Otherwise they stay Alembic's: a nullable column is safe.
        in_ec = bool(self.entries or self.drops) or any(_needs_fill(op) for _, op in self.adds)
        for table_ops, add in self.adds:
            if in_ec:
                table_ops.ops.remove(add)
                self.add_column(add)
        # Alembic finds dropped columns in set order: sorted, the revision is reproducible.
        self.drops.sort(key=lambda pair: (pair[1].table_name, pair[1].column_name))
        for table_ops, drop in self.drops:
            self.drop_column(drop, table_ops, adds_in_ec=in_ec)
        kept = [op for op in kept if not (isinstance(op, ops.ModifyTableOps) and not op.ops)]
        # Plain (transactional) changes first, then the concurrent index builds (an index on a
        # column ec is about to twin gets copied onto the twin), then ec's migration.
        kept.extend(self.index_ops)
        if self.entries:
            self.entries.sort(key=lambda e: _ENTRY_ORDER.index(e.kind))
            kept.append(ExpandContractOp(self.entries, self.replaced))
        upgrade_ops.ops[:] = kept

    def table_ops(self, table_ops: ops.ModifyTableOps, *, dropped: bool, new_table: bool) -> None:
        converts = self.converts(table_ops.schema)
        kept: list[ops.MigrateOperation] = []
        dropped_names = {op.column_name for op in table_ops.ops if isinstance(op, ops.DropColumnOp)}
        for op in table_ops.ops:
            if dropped and converts:
                # ec drops the table, with its indexes and constraints, at contract.
                self.replaced.append(op)
            elif converts and _index_on(op, dropped_names):
                # ec drops the column at contract, and the index with it; until then the old
                # version still queries through it.
                self.replaced.append(op)
            elif isinstance(op, ops.CreateIndexOp | ops.DropIndexOp) and not new_table:
                self.index_ops.append(ConcurrentIndexOp(op))
            elif isinstance(op, ops.AlterColumnOp) and converts and self.alter_column(op):
                if op.has_changes():  # a comment or server default change stays Alembic's
                    kept.append(op)
            elif isinstance(op, ops.DropColumnOp) and converts:
                self.drops.append((table_ops, op))
            else:
                if isinstance(op, ops.AddColumnOp) and converts and not new_table:
                    self.adds.append((table_ops, op))
                kept.append(op)
        table_ops.ops[:] = kept

    # -- conversions ----------------------------------------------------------------------
    def alter_column(self, op: ops.AlterColumnOp) -> bool:
        """Moves a type/nullability change into ec; False when there is none."""
        new_type, nullable = op.modify_type, op.modify_nullable
        if new_type is None and nullable is None:
            return False
        column, col = op.column_name, self.ident(op.column_name)
        body: dict[str, Any] = {"table": op.table_name, "column": column}
        old_type = self.type_sql(op.existing_type) if op.existing_type is not None else None
        if new_type is not None:
            body["type"] = self.type_sql(new_type)
        if nullable is not None:
            body["nullable"] = bool(nullable)
        before = [
            f"{REVIEW} up/down of {op.table_name}.{column}, then delete the REVIEW comments. "
            "`up` computes the new value from the old version's row (old column names), "
            "`down` the old value from the new version's row (new column names)."
        ]
        up, down = col, None
        if new_type is not None:
            up = f"{col}::{body['type']}"
            if old_type is not None:
                down = f"{col}::{old_type}"
                before.append(
                    f"down must fit {old_type}: while both versions run, a new-version "
                    "write that does not fit fails (clamp it in down, or limit the new version "
                    "with a CHECK)."
                )
        fallback = self.server_default(op)
        if nullable is False:
            if fallback is not None:
                up = f"coalesce({up}, {fallback})"
            before.append(
                f"Rows where {column} IS NULL need a value from up, e.g. "
                f"coalesce({col}, <value>): a row up leaves NULL stays pending and "
                "the backfill lists it."
            )
        elif nullable is True and down is None:
            down = f"coalesce({col}, {fallback})" if fallback is not None else col
            before.append(
                f"The old version's {column} is NOT NULL: a NULL written by the new version "
                f"needs a value from down, e.g. coalesce({col}, <value>)."
            )
        notes = {"up": f"{REVIEW} up"}
        if down is not None:
            notes["down"] = f"{REVIEW} down"
        body["up"] = up
        if down is not None:
            body["down"] = down
        self.entries.append(EcEntry("alter_column", body, before, notes))
        replaced = ops.AlterColumnOp(
            op.table_name,
            op.column_name,
            schema=op.schema,
            existing_type=op.existing_type,
            existing_nullable=op.existing_nullable,
            modify_type=new_type,
            modify_nullable=nullable,
        )
        self.replaced.append(replaced)
        op.modify_type, op.modify_nullable = None, None
        return True

    def server_default(self, op: ops.AlterColumnOp) -> str | None:
        default = op.existing_server_default
        arg = getattr(default, "arg", default)
        text = getattr(arg, "text", arg)
        return text if isinstance(text, str) and text else None

    def add_column(self, op: ops.AddColumnOp) -> None:
        column = op.column
        spec: dict[str, Any] = {"name": str(column.name), "type": self.type_sql(column.type)}
        if not column.nullable:
            spec["nullable"] = False
        default = _default_sql(column.server_default)
        if default is not None:
            spec["default"] = default
        body: dict[str, Any] = {"table": op.table_name, "column": spec}
        notes: dict[str, str] = {}
        before = [f"{op.table_name}.{column.name} is new: the old version does not see it."]
        if _needs_fill(op):
            body["up"] = _placeholder(spec["type"])
            notes["up"] = f"{REVIEW} up"
            before.append(
                f"{REVIEW} up: {column.name} is NOT NULL without a default, so existing rows "
                "and rows the old version inserts need a value, computed from the old "
                "version's row."
            )
        self.entries.append(EcEntry("add_column", body, before, notes))
        self.replaced.append(op)

    def drop_column(
        self, op: ops.DropColumnOp, table_ops: ops.ModifyTableOps, *, adds_in_ec: bool
    ) -> None:
        column = op.to_column()
        body: dict[str, Any] = {"table": op.table_name, "column": op.column_name}
        notes: dict[str, str] = {}
        before = [
            f"{op.table_name}.{op.column_name} disappears from the new version now and from "
            "the table at contract; the old version keeps reading and writing it until then."
        ]
        if not column.nullable and column.server_default is None:
            body["down"] = _placeholder(self.type_sql(column.type))
            notes["down"] = f"{REVIEW} down"
            before.append(
                f"{REVIEW} down: {op.column_name} is NOT NULL, so rows the new version inserts "
                "need a value the old version sees there."
            )
        added_where = "add_column entry" if adds_in_ec else "op.add_column"
        for added in self.rename_candidates(op, table_ops):
            before.append(
                f"{REVIEW} {op.column_name} -> {added} have the same type. A drop + add loses "
                "the column's data and breaks the running app; if this is a rename, replace "
                f"this entry and the {added_where} of {added} with ec's"
            )
            before.append(_rename_spec(op.table_name, op.column_name, added))
        self.entries.append(EcEntry("drop_column", body, before, notes))
        self.replaced.append(op)

    def rename_candidates(
        self, dropped: ops.DropColumnOp, table_ops: ops.ModifyTableOps
    ) -> list[str]:
        """Added columns of the same type as a dropped one. One left to Alembic gets the
        comment above its op.add_column too."""
        dropped_type = self.type_sql(dropped.to_column().type)
        found = []
        for add_table, add in self.adds:
            if add_table is not table_ops or self.type_sql(add.column.type) != dropped_type:
                continue
            name = str(add.column.name)
            found.append(name)
            if add not in table_ops.ops and not any(
                isinstance(o, ReviewNoteOp) and o.wrapped is add for o in table_ops.ops
            ):
                continue  # it went into ec's migration: the drop_column entry carries the hint
            notes = [
                f"{REVIEW} renamed from {dropped.column_name}? A drop + add loses the data "
                "and breaks the running app; ec renames without either (see the "
                "drop_column of op.expand_contract below)",
                _rename_spec(dropped.table_name, dropped.column_name, name),
            ]
            for i, op in enumerate(table_ops.ops):
                if op is add:
                    table_ops.ops[i] = ReviewNoteOp(op, notes)
                elif isinstance(op, ReviewNoteOp) and op.wrapped is add:
                    op.notes.extend(notes)
        return found

    def drop_table(self, op: ops.DropTableOp) -> None:
        before = [
            f"{op.table_name} disappears from the new version now and is dropped at contract; "
            "the old version keeps using it until then."
        ]
        self.entries.append(EcEntry("drop_table", {"name": op.table_name}, before))
        self.replaced.append(op)


def _needs_fill(op: ops.AddColumnOp) -> bool:
    return not op.column.nullable and op.column.server_default is None


def _default_sql(server_default: Any) -> str | None:
    """A column's server default as SQL: a string is a literal (as Alembic renders it), a
    ``text()`` is SQL already."""
    arg = getattr(server_default, "arg", None)
    if isinstance(arg, str):
        from psycopg import sql

        return sql.Literal(arg).as_string(None)
    text = getattr(arg, "text", None)
    return text if isinstance(text, str) else None


def _rename_spec(table: str, old: str, new: str) -> str:
    return json.dumps({"rename_column": {"table": table, "from": old, "to": new}}) + ","


def _index_on(op: ops.MigrateOperation, columns: set[str]) -> bool:
    if not isinstance(op, ops.DropIndexOp) or not columns:
        return False
    names = {getattr(c, "name", None) for c in op.to_index().expressions}
    return names <= columns and None not in names


def _placeholder(type_sql: str) -> str:
    """A value of the column's type for the old version to read (reviewed by the user)."""
    base = type_sql.split("(", maxsplit=1)[0].strip()
    if base in ("boolean",):
        return "false"
    if base in ("smallint", "integer", "bigint", "numeric", "real", "double precision", "decimal"):
        return "0"
    if base.startswith("timestamp") or base == "date":
        return "now()"
    if base in ("text", "varchar", "character varying", "char", "character"):
        return "''"
    return f"NULL::{type_sql}"


def rewrite(autogen_context: Any, upgrade_ops: ops.UpgradeOps, base_schema: str) -> None:
    _Rewrite(autogen_context, base_schema).run(upgrade_ops)
