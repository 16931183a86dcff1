"""Which revision an operation belongs to, and checking all of a revision before its first
statement runs.

Alembic calls each revision's ``upgrade()``/``downgrade()`` and gives operations no handle on
the revision, so the revision is found on the call stack: the nearest ``upgrade*``/
``downgrade*`` function of a module that defines ``revision`` and ``down_revision``. Its
module globals carry the opt-outs (``ec_safe_ops``, ``ec_allow``).

Before the first operation of a revision runs online, the revision's function is called once
more against an offline migration context whose operations only record and check: a refusal
anywhere in the revision stops it before anything ran. Code in the function that needs a live
database (``op.get_bind().execute(...).fetchall()``) cannot run that way; then each operation
is checked just before it runs instead, and a refusal rolls back the migration transaction."""

from __future__ import annotations

import dataclasses
import inspect
import io
import logging
import sys
from pathlib import Path
from types import FrameType
from typing import Any
from weakref import WeakKeyDictionary

import sqlalchemy as sa
from alembic.operations import Operations, ops
from psycopg import sql

from expandcontract.alembic.safe_checks import CheckScope
from expandcontract.alembic.safe_config import RevisionOptOut, retry_policy, revision_opt_out
from expandcontract.errors import ECError
from expandcontract.runner.policy import RetryPolicy

log = logging.getLogger("expandcontract")

_COLUMN_TYPE = sa.text(
    "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
    "WHERE a.attrelid = to_regclass(:table) AND a.attname = :column "
    "AND a.attnum > 0 AND NOT a.attisdropped"
)


class AbortDryRun(Exception):
    """The dry run reached a live operation (imported past the ``op`` proxy): stop it."""


@dataclasses.dataclass
class RevisionRun:
    """What safe ops know about one revision function running in one migration context."""

    opt_out: RevisionOptOut
    scope: CheckScope
    policy: RetryPolicy
    function: Any = None
    arguments: dict[str, Any] = dataclasses.field(default_factory=dict)
    prechecked: bool = False  # the dry run went through: every operation was checked
    dry_run_tried: bool = False
    dry_running: bool = False
    lock_timeout_emitted: bool = False


_RUNS: WeakKeyDictionary[Any, dict[tuple[str, str], RevisionRun]] = WeakKeyDictionary()
_DRY: WeakKeyDictionary[Any, CheckScope] = WeakKeyDictionary()


def dry_scope(migration_context: Any) -> CheckScope | None:
    """The scope of a dry-run context (operations there only check), else None."""
    return _DRY.get(migration_context)


def _revision_frame() -> FrameType | None:
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        name, module = frame.f_code.co_name, frame.f_globals
        if (
            name.startswith(("upgrade", "downgrade"))
            and "revision" in module
            and "down_revision" in module
            and _defines(module.get(name), frame)
        ):
            return frame
        frame = frame.f_back
    return None


def _defines(function: Any, frame: FrameType) -> bool:
    """``function`` is the one running in ``frame``, or decorates it (functools.wraps)."""
    seen = 0
    while function is not None and seen < 20:  # a decorator chain, not a cycle
        if getattr(function, "__code__", None) is frame.f_code:
            return True
        function, seen = getattr(function, "__wrapped__", None), seen + 1
    return False


def revision_run(migration_context: Any) -> RevisionRun:
    """The state of the revision now running in ``migration_context`` (created on its first
    operation; an operation outside any revision gets a fresh one each time)."""
    frame = _revision_frame()
    module = frame.f_globals if frame is not None else {}
    name = frame.f_code.co_name if frame is not None else "upgrade"
    key = (str(module.get("__file__", "")), name)
    runs = _RUNS.setdefault(migration_context, {})
    if frame is not None and key in runs:
        return runs[key]
    where = _describe(module)
    opt_out = revision_opt_out(module, where)
    scope = CheckScope(
        where=where,
        direction="downgrade" if name.startswith("downgrade") else "upgrade",
        opt_out=opt_out,
        dialect=migration_context.dialect,
        in_transaction=False,  # only "will fail anyway" lint rules care; Alembic tells those
    )
    if not migration_context.as_sql:
        scope.column_type = _catalog_lookup(migration_context)
        scope.server_version = _server_version(migration_context)
    run = RevisionRun(opt_out=opt_out, scope=scope, policy=retry_policy(migration_context))
    if frame is not None:
        function = module[name]
        parameters = inspect.signature(function).parameters
        run.function = function
        run.arguments = {p: frame.f_locals[p] for p in parameters if p in frame.f_locals}
        runs[key] = run
    return run


def _describe(module: Any) -> str:
    if not module:
        return "this migration"
    path = module.get("__file__")
    shown = ""
    if path:
        try:
            shown = f" ({Path(path).resolve().relative_to(Path.cwd())})"
        except ValueError:
            shown = f" ({path})"
    return f"revision {module.get('revision')}{shown}"


def _catalog_lookup(migration_context: Any) -> Any:
    connection = migration_context.connection

    def column_type(schema: str | None, table: str, column: str) -> str | None:
        qualified = sql.Identifier(*(p for p in (schema, table) if p)).as_string()
        row = connection.execute(_COLUMN_TYPE, {"table": qualified, "column": column}).first()
        return None if row is None else str(row[0])

    return column_type


def _server_version(migration_context: Any) -> int | None:
    info = migration_context.connection.dialect.server_version_info
    if not info:
        return None
    return int(info[0]) * 10000  # the major version is all the checks compare


class _DryOperations(Operations):
    """Operations of the dry run: Alembic's built-in ones reach the safe-ops implementations
    (which only check there); others (e.g. ``op.expand_contract``) are skipped."""

    def invoke(self, operation: Any) -> Any:
        if not isinstance(operation, ops.MigrateOperation) or not type(
            operation
        ).__module__.startswith("alembic."):  # Alembic's (also op.create_exclude_constraint)
            return None
        return super().invoke(operation)


def _install_proxy(operations: Operations) -> None:
    """Make ``op.*`` call ``operations``: Alembic's own installer looks its module proxies up
    by the exact class, which the dry-run subclass is not."""
    attr_names, modules = Operations._setups[Operations]
    for module_globals, _ in modules:
        module_globals["_proxy"] = operations
        for attr_name in attr_names:
            module_globals[attr_name] = getattr(operations, attr_name)


def precheck(migration_context: Any, run: RevisionRun) -> None:
    """Check every operation of the revision before the first one runs (see module doc)."""
    run.dry_run_tried = True
    if run.function is None:
        return
    from alembic import op as op_module
    from alembic.runtime.migration import MigrationContext

    # configuring an offline context logs "Generating static SQL": not what this run does
    migration_log = logging.getLogger("alembic.runtime.migration")
    was_disabled, migration_log.disabled = migration_log.disabled, True
    try:
        dry = MigrationContext.configure(
            dialect=migration_context.dialect,
            opts={"as_sql": True, "output_buffer": io.StringIO(), "literal_binds": True},
        )
    finally:
        migration_log.disabled = was_disabled
    _DRY[dry] = dataclasses.replace(run.scope, created=set())
    saved = getattr(op_module, "_proxy", None)
    dry_ops = _DryOperations(dry)
    _install_proxy(dry_ops)
    run.dry_running = True
    try:
        run.function(**run.arguments)
    except ECError:  # a refusal (UnsafeOperation) or a bad ec_allow
        raise
    except Exception as exc:  # code that needs a live database: check operation by operation
        log.debug("ec.safe_ops: %s cannot be checked ahead (%s)", run.scope.where, exc)
        return
    finally:
        run.dry_running = False
        if saved is not None:
            saved._install_proxy()
        else:
            Operations(dry)._remove_proxy()
        _DRY.pop(dry, None)
    run.prechecked = True
