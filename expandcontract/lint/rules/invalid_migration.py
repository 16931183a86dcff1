"""An ec migration file that ``ec plan`` refuses to read, for any reason other than an
expression (expression-not-single): reported at its operation, with ec plan's message. Also an
Alembic revision operation that ``ec.safe_ops`` would refuse (lint/sources.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from expandcontract.lint.context import Context
from expandcontract.lint.ir import Op, Statement
from expandcontract.lint.rules._ec_migration import EC_MIGRATION
from expandcontract.lint.rules.base import Rule

if TYPE_CHECKING:
    from expandcontract.lint.inputs.ec_migration import EcMigration, Problem


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    return None  # reported by the ec migration input, from the file's operations (check_file)


def check_file(migration: EcMigration) -> list[Problem]:
    from expandcontract.lint.inputs.ec_migration import Problem
    from expandcontract.operations.expressions import ExpressionInvalid

    found = [migration.read_error] if migration.read_error else []
    found += [
        Problem(r.position, r.error.message, r.error.hint)
        for r in migration.refusals
        if not isinstance(r.error, ExpressionInvalid)
    ]
    return found


RULE = Rule(
    id="invalid-migration",
    severity="error",
    summary="ec migration file that `ec plan` refuses (unknown operation or field, missing or "
    "mistyped value, unreadable YAML)",
    why="`ec plan` and `ec apply` read the whole file before running anything and refuse it "
    "when an operation is unknown, lacks a required field, has a field it does not know (a "
    "typo such as `nulable` would otherwise mean nothing) or a value of the wrong type. The "
    "migration would fail at deploy time; this rule fails CI instead, once per operation. In an "
    "Alembic project with `ec.safe_ops = true`, an `op.*` call the plugin refuses (a column "
    "drop, a rewriting type change, ...) is reported the same way, at its line.",
    suggestion="Fix the file as the message says (`ec plan FILE` gives the same message); "
    "docs/migrations.md lists each operation's fields.",
    equivalents={},
    check=check,
    tags=(EC_MIGRATION,),
    bad="""\
operations:
  - alter_column:
      table: users
      column: email
      nulable: false""",
    good="""\
operations:
  - alter_column:
      table: users
      column: email
      nullable: false""",
)
