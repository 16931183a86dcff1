"""Fields of an ec migration file that ec splices into SQL must each be one expression (or
one type): checked with the same function ``ec plan`` uses, reported at the field's line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from expandcontract.lint.context import Context
from expandcontract.lint.ir import Op, Statement
from expandcontract.lint.rules._ec_migration import EC_MIGRATION
from expandcontract.lint.rules.base import Rule

if TYPE_CHECKING:
    from expandcontract.lint.inputs.ec_migration import EcMigration, OperationEntry, Problem

# What ec splices into SQL: fields of the operation, and of each column definition
# (add_column's column, create_table's columns). tests/lint/test_ec_migration_rules.py sets
# every field of every operation to an injection and requires exactly these to be flagged.
_OPERATION_FIELDS: dict[str | None, tuple[str, ...]] = {
    "add_column": ("up",),
    "alter_column": ("type", "up", "down", "default"),
    "drop_column": ("down",),
    "create_index": ("where",),
}
_COLUMN_FIELDS = ("type", "default", "check")


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    return None  # reported by the ec migration input, from the file's fields (check_file)


def check_file(migration: EcMigration) -> list[Problem]:
    from expandcontract.lint.inputs.ec_migration import Problem
    from expandcontract.operations import MigrationInvalid
    from expandcontract.operations.base import text
    from expandcontract.operations.expressions import (
        ExpressionInvalid,
        check_expression,
        check_type,
    )

    found: list[Problem] = []
    for op in migration.operations:
        for mapping, path, where in _fields(op):
            key = str(path[-1])
            if key not in mapping:
                continue
            try:  # read as the operation reads it (a column's type is required)
                value = text(mapping, key, where, required=key == "type" and len(path) > 1)
            except MigrationInvalid:
                continue  # not text at all: invalid-migration reports it
            try:
                if key == "type":
                    check_type(value, what=f"{where}: {key}")
                else:
                    check_expression(value, what=f"{where}: {key}")
            except ExpressionInvalid as exc:
                found.append(Problem(op.position_of(*path), exc.message, exc.hint))
    # Whatever ec plan refuses as an expression beyond the fields above (a field added to an
    # operation since) is still reported, at the operation: lint never passes such a file.
    said = {p.message for p in found}
    found += [
        Problem(r.position, r.error.message, r.error.hint)
        for r in migration.refusals
        if isinstance(r.error, ExpressionInvalid) and r.error.message not in said
    ]
    return found


def _fields(op: OperationEntry) -> Iterator[tuple[dict[str, Any], tuple[str | int, ...], str]]:
    """(mapping that holds the field, the field's path in the body, ec plan's name for the
    mapping) for every field of ``op`` that ec splices into SQL."""
    body = op.body
    if not isinstance(body, dict):
        return
    for key in _OPERATION_FIELDS.get(op.kind, ()):
        yield body, (key,), op.where
    columns: list[tuple[Any, tuple[str | int, ...], str]] = []
    if op.kind == "add_column":
        columns.append((body.get("column"), ("column",), f"{op.where}.column"))
    elif op.kind == "create_table" and isinstance(body.get("columns"), list):
        columns += [
            (column, ("columns", i), f"{op.where}.columns[{i}]")
            for i, column in enumerate(body["columns"])
        ]
    for column, prefix, where in columns:
        if isinstance(column, dict):
            for key in _COLUMN_FIELDS:
                yield column, (*prefix, key), where


RULE = Rule(
    id="expression-not-single",
    severity="error",
    summary="ec migration field (up, down, default, check, where, type) that is not exactly "
    "one SQL expression or type",
    why="ec splices these fields into the SQL it generates: the dual-write trigger, the "
    "version views, backfill statements, defaults and constraints. Text that closes a bracket "
    "it did not open, or holds a `;` or a comment, would end the expression there and run "
    "what follows as statements of its own, inside the trigger, on every write. `ec plan` and "
    "`ec apply` refuse such a file before running anything and name the first such field; "
    "this rule reports every one, at its line.",
    suggestion="Write one expression (`lower(email)`, `amount::bigint`, `coalesce(n, 0)`) or "
    "one type (`bigint`, `varchar(20)`, `numeric(10, 2)`); statements belong in an `sql` "
    "operation.",
    equivalents={},
    check=check,
    tags=(EC_MIGRATION,),
    bad="""\
operations:
  - alter_column:
      table: users
      column: score
      type: bigint
      up: "1)::bigint FROM users; DELETE FROM users; SELECT (1"
      down: score::integer""",
    good="""\
operations:
  - alter_column:
      table: users
      column: score
      type: bigint
      up: score::bigint
      down: least(score, 2147483647)::integer""",
)
