"""``ec.safe_ops = true``: Alembic's built-in ``op.*`` run through ec's safe runner and, where
one exists with the same end state, in their lock-safe form (safe_forms.py); the operations
that cannot be made safe in place are refused before anything of the revision runs
(safe_checks.py, safe_revision.py).

Each built-in operation's implementation is replaced (``implementation_for(..., replace=True)``)
by one that first reads the setting from the migration context: with it off (the default),
Alembic's own implementation from ``alembic.operations.toimpl`` is called unchanged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Only what Alembic has loaded when it runs plugins (it is importing its runtime then); the
# rest of safe ops is imported when an operation first runs.
from alembic.operations import Operations, ops, toimpl

Implementation = Callable[[Any, Any], Any]

# Alembic's own implementations, called as they are when safe ops are off.
_ORIGINALS: dict[type[ops.MigrateOperation], Implementation] = {
    ops.AlterColumnOp: toimpl.alter_column,
    ops.DropTableOp: toimpl.drop_table,
    ops.DropColumnOp: toimpl.drop_column,
    ops.CreateIndexOp: toimpl.create_index,
    ops.DropIndexOp: toimpl.drop_index,
    ops.CreateTableOp: toimpl.create_table,
    ops.RenameTableOp: toimpl.rename_table,
    ops.CreateTableCommentOp: toimpl.create_table_comment,
    ops.DropTableCommentOp: toimpl.drop_table_comment,
    ops.AddColumnOp: toimpl.add_column,
    ops.AddConstraintOp: toimpl.create_constraint,
    ops.DropConstraintOp: toimpl.drop_constraint,
    ops.BulkInsertOp: toimpl.bulk_insert,
    ops.ExecuteSQLOp: toimpl.execute_sql,
}


def register() -> None:
    """Register with Alembic's Operations (called from plugin.setup)."""
    for op_class, original in _ORIGINALS.items():
        Operations.implementation_for(op_class, replace=True)(_safe(original))


def _safe(original: Implementation) -> Implementation:
    def implementation(operations: Any, operation: Any) -> Any:
        from expandcontract.alembic.safe_checks import check
        from expandcontract.alembic.safe_config import safe_ops_enabled
        from expandcontract.alembic.safe_dispatch import as_plain, run_safely
        from expandcontract.alembic.safe_revision import AbortDryRun, dry_scope, revision_run

        ctx = operations.migration_context
        scope = dry_scope(ctx)
        if scope is not None:  # the dry run of safe_revision.precheck: check, run nothing
            check(as_plain(operations, operation, scope.where), scope)
            return operation.to_table(ctx) if isinstance(operation, ops.CreateTableOp) else None
        if not safe_ops_enabled(ctx):
            return original(operations, operation)
        run = revision_run(ctx)
        if run.dry_running:
            raise AbortDryRun  # reached through a name imported past the op proxy
        if not run.opt_out.enabled:
            return original(operations, operation)
        return run_safely(operations, operation, original, run)

    implementation.__name__ = f"safe_{original.__name__}"
    implementation.__doc__ = f"ec.safe_ops around Alembic's {original.__name__}"
    return implementation
