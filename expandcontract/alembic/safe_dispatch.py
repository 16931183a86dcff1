"""How ec.safe_ops runs one operation: check it (unless the whole revision was checked ahead),
then run it in its lock-safe form or, when it has none, as Alembic does, through the runner."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from alembic.operations import BatchOperations, Operations, ops

from expandcontract.alembic import safe_forms
from expandcontract.alembic.safe_checks import UnsafeOperation, check
from expandcontract.alembic.safe_revision import RevisionRun, precheck
from expandcontract.alembic.safe_runner import AlembicSafeRunner

Implementation = Callable[[Any, Any], Any]


def run_safely(operations: Any, operation: Any, original: Implementation, run: RevisionRun) -> Any:
    ctx = operations.migration_context
    operation = as_plain(operations, operation, run.scope.where)
    if isinstance(operations, BatchOperations):
        # executed right away through the context (not at the batch's end, which would
        # bypass the runner); on PostgreSQL a batch without recreate does just that, in order
        operations = Operations(ctx)
    if not ctx.as_sql and not run.dry_run_tried:
        precheck(ctx, run)
    if run.prechecked:
        if isinstance(operation, ops.CreateTableOp):
            run.scope.created.add((operation.schema, operation.table_name))
    else:
        if not ctx.as_sql:
            run.scope.outcome = (
                "This operation did not run; Alembic rolls back its open migration transaction "
                "(what an earlier autocommit block committed stays)."
            )
        check(operation, run.scope)
    runner = AlembicSafeRunner(ctx, run.policy)
    try:
        if ctx.as_sql and not run.lock_timeout_emitted:
            runner.emit_lock_timeout()
            run.lock_timeout_emitted = True
        table = getattr(operation, "table_name", None)
        if table and run.scope.is_new(getattr(operation, "schema", None), table):
            # created earlier in this revision: no other session sees it yet, so Alembic's
            # plain form inside the transaction is safe and keeps the revision atomic
            return runner.run(describe(operation), lambda: original(operations, operation))
        return _dispatch(runner, operations, operation, original)
    finally:
        runner.close()


def as_plain(operations: Any, operation: Any, where: str) -> Any:
    """Refuse a batch that copies the table (recreate="always"); the rest of a batch is an
    ordinary operation on the batch's table."""
    if isinstance(operations, BatchOperations) and operations.impl.recreate == "always":
        raise UnsafeOperation(
            f"op.batch_alter_table(..., recreate='always') in {where} is refused by "
            "ec.safe_ops: it copies the whole table into a new one under an ACCESS EXCLUSIVE "
            "lock",
            "drop recreate='always' (PostgreSQL alters in place), or set ec_safe_ops = False "
            "in this revision; see docs/alembic.md",
        )
    return operation


def _dispatch(
    runner: AlembicSafeRunner, operations: Any, operation: Any, original: Implementation
) -> Any:
    ctx = runner.ctx
    if isinstance(operation, ops.CreateIndexOp):
        safe_forms.create_index(runner, operation)
        return None
    if isinstance(operation, ops.AddConstraintOp) and safe_forms.add_constraint(
        runner, operation.to_constraint(ctx)
    ):
        return None
    if isinstance(operation, ops.AddColumnOp) and safe_forms.add_column_parts(runner, operation):
        return None
    if isinstance(operation, ops.AlterColumnOp) and operation.modify_nullable is False:
        rest = copy.copy(operation)
        rest.modify_nullable = None
        if _changes_something(rest):
            runner.run(describe(rest), lambda: original(operations, rest))
        column = operation.modify_name or operation.column_name  # renamed just before
        safe_forms.set_not_null(runner, operation.schema, operation.table_name, column)
        return None
    return runner.run(describe(operation), lambda: original(operations, operation))


def _changes_something(operation: ops.AlterColumnOp) -> bool:
    return (
        operation.modify_type is not None
        or operation.modify_name is not None
        or operation.modify_nullable is not None
        or operation.modify_server_default is not False
        or operation.modify_comment is not False
    )


# the op.* name of each operation class (the class names do not all match: ExecuteSQLOp)
_OP_NAMES: dict[type[Any], str] = {
    ops.CreatePrimaryKeyOp: "create_primary_key",
    ops.CreateUniqueConstraintOp: "create_unique_constraint",
    ops.CreateForeignKeyOp: "create_foreign_key",
    ops.CreateCheckConstraintOp: "create_check_constraint",
    ops.AddConstraintOp: "create_constraint",
    ops.DropConstraintOp: "drop_constraint",
    ops.AlterColumnOp: "alter_column",
    ops.AddColumnOp: "add_column",
    ops.DropColumnOp: "drop_column",
    ops.CreateTableOp: "create_table",
    ops.DropTableOp: "drop_table",
    ops.RenameTableOp: "rename_table",
    ops.CreateIndexOp: "create_index",
    ops.DropIndexOp: "drop_index",
    ops.CreateTableCommentOp: "create_table_comment",
    ops.DropTableCommentOp: "drop_table_comment",
    ops.BulkInsertOp: "bulk_insert",
    ops.ExecuteSQLOp: "execute",
}


def describe(operation: Any) -> str:
    """``op.create_table('users')`` for messages."""
    if getattr(operation, "constraint_type", None) == "exclude":
        name = "create_exclude_constraint"
    else:
        found = (_OP_NAMES.get(cls) for cls in type(operation).__mro__)
        name = next((n for n in found if n), type(operation).__name__)
    table = getattr(operation, "table_name", None)
    return f"op.{name}({table!r})" if table else f"op.{name}"
