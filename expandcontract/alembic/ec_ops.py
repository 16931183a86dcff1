"""``op.expand_contract``, ``op.expand_contract_complete`` and ``op.expand_contract_rollback``:
an ec migration run from Alembic revisions, on the database Alembic migrates.

ec's statements cannot run inside Alembic's migration transaction (CONCURRENTLY index builds,
a backfill on its own connections, ec's run lock), and must see what earlier revisions of the
same ``alembic upgrade`` did: each directive commits Alembic's transaction so far and runs in
Alembic's ``autocommit_block``. ec's engine records every step in its ledger, so re-running an
upgrade after a crash resumes, and a migration already completed is not run again.

This module is imported at every ``import alembic`` (plugin.py): it imports only what Alembic
has loaded already; ec's engine is imported when a directive runs."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from alembic.operations import MigrateOperation, Operations
from alembic.util import CommandError

from expandcontract.alembic.ec_revision import (
    RevisionFile,
    build_migration,
    calling_revision,
    migration_name,
)
from expandcontract.errors import ConfigError, ECError

if TYPE_CHECKING:
    from expandcontract.engine.api import Engine
    from expandcontract.engine.migration import Migration

# A child of Alembic's logger: alembic.ini shows it at INFO, next to "Running upgrade …".
log = logging.getLogger("alembic.expandcontract")


class ExpandContractError(ECError, CommandError):
    """An ec directive refused or failed. Alembic's command line prints a CommandError as one
    ``FAILED: …`` line; any other exception would be a traceback."""


class ExpandContractOp(MigrateOperation):
    """``op.expand_contract(operations, name=None)``: expand + backfill of an ec migration."""

    def __init__(self, migration: Migration, revision: RevisionFile | None) -> None:
        self.migration = migration
        self.revision = revision

    @classmethod
    def expand_contract(cls, operations: Operations, spec: Any, name: str | None = None) -> None:
        revision = calling_revision()
        with reported("op.expand_contract", revision):
            migration = build_migration(spec, name, revision)  # validated before anything runs
        operations.invoke(cls(migration, revision))


class ExpandContractCompleteOp(MigrateOperation):
    """``op.expand_contract_complete(name=None)``: contract the active ec migration."""

    def __init__(self, name: str | None, revision: RevisionFile | None) -> None:
        self.name = name
        self.revision = revision

    @classmethod
    def expand_contract_complete(cls, operations: Operations, name: str | None = None) -> None:
        revision = calling_revision()
        with reported("op.expand_contract_complete", revision):
            if name is not None:
                migration_name(name, revision, "op.expand_contract_complete")
        operations.invoke(cls(name, revision))


class ExpandContractRollbackOp(MigrateOperation):
    """``op.expand_contract_rollback(name=None)``: undo the expand of the revision's ec
    migration (named after the revision unless ``name`` is given)."""

    def __init__(self, name: str, revision: RevisionFile | None) -> None:
        self.name = name
        self.revision = revision

    @classmethod
    def expand_contract_rollback(cls, operations: Operations, name: str | None = None) -> None:
        revision = calling_revision()
        with reported("op.expand_contract_rollback", revision):
            target = migration_name(name, revision, "op.expand_contract_rollback")
        operations.invoke(cls(target, revision))


# -- the public signatures -------------------------------------------------------------------
# register_operation names the Operations instance ``operations``, the name the issue gives
# the first argument of op.expand_contract: these proxies, set after registering, keep the
# documented signatures (``op.expand_contract(operations=[...])`` works too).
def expand_contract(self: Operations, operations: Any, name: str | None = None) -> None:
    """Run an ec migration's expand and backfill (both app versions live afterwards).

    ``operations``: the ``operations:`` list of an ec migration file, or the path of such a
    file relative to this revision file. The migration is named after the revision unless
    ``name`` is given. Commits Alembic's transaction first and runs outside it."""
    ExpandContractOp.expand_contract(self, operations, name)


def expand_contract_complete(self: Operations, name: str | None = None) -> None:
    """Contract the active ec migration (the new app version is deployed); refused, with the
    reason, while its backfill is not verified."""
    ExpandContractCompleteOp.expand_contract_complete(self, name)


def expand_contract_rollback(self: Operations, name: str | None = None) -> None:
    """For downgrade() of the expanding revision: undo its expand (refused once completed)."""
    ExpandContractRollbackOp.expand_contract_rollback(self, name)


_registered = False


def register() -> None:
    """Register with Alembic's Operations (called from plugin.setup; repeatable)."""
    global _registered
    if _registered:
        return
    for op_class, proxy in (
        (ExpandContractOp, expand_contract),
        (ExpandContractCompleteOp, expand_contract_complete),
        (ExpandContractRollbackOp, expand_contract_rollback),
    ):
        Operations.register_operation(proxy.__name__)(op_class)
        setattr(Operations, proxy.__name__, proxy)  # updates the op.* module proxies too
    Operations.implementation_for(ExpandContractOp)(run_expand_contract)
    Operations.implementation_for(ExpandContractCompleteOp)(run_complete)
    Operations.implementation_for(ExpandContractRollbackOp)(run_rollback)
    _registered = True


# -- implementations ---------------------------------------------------------------------------
def run_expand_contract(operations: Operations, op: ExpandContractOp) -> None:
    ctx = operations.get_context()
    _before_running(ctx, "op.expand_contract")
    resume = (
        "from Alembic: the revision is not stamped until this succeeds; `alembic upgrade` "
        "again resumes from ec's ledger (as `ec apply` would); `ec rollback` undoes it"
    )
    with reported("op.expand_contract", op.revision, resume):
        if ctx.as_sql:
            from expandcontract.alembic import offline

            lines = offline.expand_lines(op.migration, op.migration.schema_for(_schema(ctx)))
            with ctx.autocommit_block():
                offline.emit(ctx, lines, _offline_reason(f"ec migration {op.migration.name}"))
            return
        engine = _engine(ctx)
        with ctx.autocommit_block():
            result = engine.apply(op.migration, through="backfill")
    if result.get("already_completed"):
        log.info("ec migration %r was completed before: nothing to do", op.migration.name)
        return
    log.info(
        "ec migration %r expanded and backfilled: the old version uses schema %s, the new "
        "version schema %s; after the new app is deployed, op.expand_contract_complete() "
        "(or `ec complete`) retires the old one",
        result["migration"],
        result["old_schema"],
        result["new_schema"],
    )


def run_complete(operations: Operations, op: ExpandContractCompleteOp) -> None:
    ctx = operations.get_context()
    _before_running(ctx, "op.expand_contract_complete")
    resume = (
        "from Alembic: a backfill resumes when the revision with op.expand_contract runs "
        "again (`alembic stamp` its down_revision, then `alembic upgrade`)"
    )
    with reported("op.expand_contract_complete", op.revision):
        if ctx.as_sql:
            from expandcontract.alembic import offline

            what = f"contract ec migration {op.name!r}" if op.name else "contract the active"
            lines = offline.directive_lines("op.expand_contract_complete", f"{what} migration")
            with ctx.autocommit_block():
                offline.emit(ctx, lines, _offline_reason("op.expand_contract_complete()"))
            return
        engine = _engine(ctx)
        with ctx.autocommit_block():
            if _complete_needed(engine, op.name):
                with reported("op.expand_contract_complete", op.revision, resume):
                    result = engine.complete()
                log.info("ec migration %r completed", result["migration"])


def run_rollback(operations: Operations, op: ExpandContractRollbackOp) -> None:
    ctx = operations.get_context()
    _before_running(ctx, "op.expand_contract_rollback")
    resume = "from Alembic: `alembic downgrade` again continues the rollback"
    with reported("op.expand_contract_rollback", op.revision):
        if ctx.as_sql:
            from expandcontract.alembic import offline

            what = f"undo the expand of ec migration {op.name!r}"
            lines = offline.directive_lines("op.expand_contract_rollback", what)
            with ctx.autocommit_block():
                offline.emit(ctx, lines, _offline_reason(f"rolling back ec migration {op.name}"))
            return
        engine = _engine(ctx)
        with ctx.autocommit_block():
            if _rollback_needed(engine, op.name):
                with reported("op.expand_contract_rollback", op.revision, resume):
                    engine.rollback()
                log.info("ec migration %r rolled back", op.name)


# -- what the ledger says ----------------------------------------------------------------------
def _migrations(engine: Engine) -> list[dict[str, Any]]:
    return [m for m in engine.status()["migrations"] if m["base_schema"] == engine.schema]


def _status(migration: dict[str, Any], phase: str) -> str | None:
    status: str | None = migration["phases"].get(phase, {}).get("status")
    return status


def _complete_needed(engine: Engine, name: str | None) -> bool:
    """True: contract the active migration. False: the migration was completed already (an
    upgrade re-run after its version stamp was lost). Otherwise refused."""
    from expandcontract.engine.api import MigrationError

    migrations = _migrations(engine)
    active = next((m for m in migrations if m["active"]), None)
    if active is not None:
        if name is not None and active["name"] != name:
            raise MigrationError(
                f"ec migration {active['name']!r} is active on schema {engine.schema!r}, "
                f"not {name!r}",
                "complete the migrations in the order their revisions expanded them",
            )
        return True
    wanted = [m for m in migrations if m["name"] == name] if name else migrations[-1:]
    if wanted and _status(wanted[-1], "contract") == "done":
        log.info("ec migration %r was completed before: nothing to do", wanted[-1]["name"])
        return False
    if not wanted:
        why = f"there is no ec migration named {name!r}" if name else "none was started"
    else:
        why = f"ec migration {wanted[-1]['name']!r} was rolled back"
    raise MigrationError(
        f"no active ec migration on schema {engine.schema!r} to complete: {why}",
        "op.expand_contract_complete() belongs in a revision after the one that runs "
        "op.expand_contract(...); `ec status` shows the ledger",
    )


def _rollback_needed(engine: Engine, name: str) -> bool:
    """True: undo the active migration ``name``. False: it was rolled back already (a
    downgrade re-run). Refused when it was completed (contract cannot be undone), never ran,
    or another migration is active."""
    from expandcontract.engine.api import MigrationError

    migrations = _migrations(engine)
    active = next((m for m in migrations if m["active"]), None)
    if active is not None and active["name"] == name:
        return True
    if active is not None:
        raise MigrationError(
            f"ec migration {active['name']!r} is active on schema {engine.schema!r}, not "
            f"{name!r}: rolling back {name!r} now would undo the wrong one",
            f"if op.expand_contract(...) ran it as name={active['name']!r}, pass the same name "
            "to op.expand_contract_rollback; otherwise downgrade the revision that started "
            f"{active['name']!r} first",
        )
    named = [m for m in migrations if m["name"] == name]
    if not named:
        raise MigrationError(
            f"no ec migration named {name!r} on schema {engine.schema!r}: nothing to roll back",
            "if op.expand_contract(...) was given name=..., pass the same name to "
            "op.expand_contract_rollback; `ec status` lists the migrations",
        )
    if _status(named[-1], "contract") is not None:
        raise MigrationError(
            f"ec migration {name!r} was completed: its contract dropped what the old version "
            "used, so it cannot be undone by a downgrade",
            "write a new revision that changes the schema forward (another "
            "op.expand_contract) instead of downgrading past this one",
        )
    log.info("ec migration %r was rolled back before: nothing to do", name)
    return False


# -- plumbing ----------------------------------------------------------------------------------
def _before_running(migration_context: Any, directive: str) -> None:
    """Before a directive's first statement: with ec.safe_ops on, the whole revision is
    checked first (a refusal later in it must stop it before this directive commits
    anything); and ec's engine needs to step out of Alembic's transaction, which it cannot
    when env.py began it."""
    if migration_context.as_sql:
        return
    from expandcontract.alembic.safe_config import safe_ops_enabled
    from expandcontract.alembic.safe_runner import require_own_transaction

    if safe_ops_enabled(migration_context):
        from expandcontract.alembic.safe_revision import precheck, revision_run

        run = revision_run(migration_context)
        if run.opt_out.enabled and not run.dry_run_tried:
            precheck(migration_context, run)
    require_own_transaction(migration_context, directive)


def _engine(migration_context: Any) -> Engine:
    from expandcontract.alembic.binding import ec_settings
    from expandcontract.engine.api import Engine
    from expandcontract.engine.backfill import table_backfill

    settings = ec_settings(migration_context)
    url = settings.require_database_url()
    return Engine(url, settings, backfill=table_backfill(url, settings))


def _schema(migration_context: Any) -> str:
    from expandcontract.alembic.binding import project_dir
    from expandcontract.config import Settings

    return Settings.load(start_dir=project_dir(migration_context)).schema


def _offline_reason(what: str) -> str:
    return f"{what} must be run online (alembic without --sql): it needs a live database"


@contextlib.contextmanager
def reported(
    directive: str, revision: RevisionFile | None, resume: str | None = None
) -> Iterator[None]:
    """An error ec understands (or a missing privilege, a lost connection) becomes an
    ExpandContractError naming the directive and the revision; a bug stays a traceback.
    ``resume`` is added to the hint of a failure while running (ec's hints name ec's own
    commands; a refused input is not resumed)."""
    from expandcontract.errors import connection_lost_error, privilege_error

    try:
        yield
    except ExpandContractError:
        raise
    except Exception as exc:
        known = exc if isinstance(exc, ECError) else None
        known = known or privilege_error(exc) or connection_lost_error(exc)
        if known is None:
            raise
        where = f" in revision {revision.revision}" if revision else ""
        hint = known.hint
        if resume and not isinstance(known, ConfigError):
            hint = f"{hint}; {resume}" if hint else resume
        error = ExpandContractError(f"ec: {directive}{where}: {known.message}", hint)
        error.exit_code = known.exit_code
        raise error from exc
