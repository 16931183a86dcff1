"""``ec verify --alembic alembic.ini --revision REV``: the ec migration an Alembic revision runs
(its ``op.expand_contract([...])``) and the schema before it (a throwaway database upgraded
by Alembic itself to the revision's down revisions, then the revision's own operations that
come before ``op.expand_contract``)."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from expandcontract.alembic.project import load_config
from expandcontract.engine.migration import Migration
from expandcontract.errors import ConfigError, ECError

# The ec operations the plugin adds to ``op``; verify captures their calls instead of running them.
EXPAND = "expand_contract"
EC_OPERATIONS = (EXPAND, "expand_contract_complete", "expand_contract_rollback")
_MISSING = object()


@dataclasses.dataclass(frozen=True)
class AlembicRevision:
    """One Alembic revision as ``verify_migration`` walks it: ``migration`` is the ec migration
    of its ``op.expand_contract`` call; ``build_base`` builds the schema before it."""

    config_path: Path
    revision: str
    needs: tuple[str, ...]  # down revisions and depends_on: upgraded to before the revision
    path: Path
    migration: Migration
    ops_before: bool  # other operations run before op.expand_contract in this revision
    ops_after: bool  # ... and after it (verify does not check those)
    module: Any = dataclasses.field(repr=False, compare=False, default=None)

    def build_base(self, url: str) -> None:
        """Upgrade the empty database at ``url`` (a libpq URL) to just before the ec
        migration. Refuses, before any statement, a connection env.py opens elsewhere."""
        from expandcontract.dsn import to_sqlalchemy

        sa_url = to_sqlalchemy(url)
        with _only_database(_database_name(url), self.config_path), _logging_kept():
            config = load_config(self.config_path)
            # env.py of the generic template reads sqlalchemy.url; the cookbook one takes
            # the connection from attributes. configparser interpolates %: double it.
            config.set_main_option("sqlalchemy.url", sa_url.replace("%", "%%"))
            for target in self.needs:
                _upgrade(config, sa_url, target)
            if self.ops_before:
                _run_until_expand(sa_url, self)


def load_revision(config_path: str | Path, revision: str) -> AlembicRevision:
    """The revision Alembic resolves ``revision`` to (id, unique prefix, ``head``, …) in the
    project of ``config_path`` (alembic.ini, or pyproject.toml with ``[tool.alembic]``)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    path = Path(config_path)
    if not path.is_file():
        raise ConfigError(
            f"--alembic {path}: no such file",
            "give the project's alembic.ini (or pyproject.toml with [tool.alembic])",
        )
    config = load_config(path)
    try:
        scripts = ScriptDirectory.from_config(config)
    except CommandError as exc:
        raise ConfigError(
            f"--alembic {path}: {exc}",
            "run ec verify where you run alembic, or make script_location absolute "
            "(e.g. %(here)s/alembic)",
        ) from None
    try:
        script = scripts.get_revision(revision)
    except CommandError as exc:
        raise ConfigError(
            f"--revision {revision!r}: {exc}",
            f"`alembic -c {path} history` lists the revisions",
        ) from None
    if script is None:
        raise ConfigError(
            f"--revision {revision!r} names no revision",
            "give a revision id, a unique prefix of one, or head",
        )
    needs = _as_tuple(script.down_revision) + _as_tuple(script.dependencies)
    with _logging_kept():
        calls, ops_before, ops_after = _capture(script)
    migration = _migration(script.revision, Path(script.path), calls)
    return AlembicRevision(
        path.resolve(),
        script.revision,
        needs,
        Path(script.path),
        migration,
        ops_before,
        ops_after,
        module=script.module,
    )


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@dataclasses.dataclass
class _Call:
    operation: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class _StopBeforeExpand(Exception):
    """Raised by the stand-in op.expand_contract when the ops before it are run for real."""


@contextlib.contextmanager
def _ec_operations(stand_in: Callable[[str], Callable[..., Any]]) -> Iterator[None]:
    """``op.expand_contract`` & co. replaced for the duration: Alembic's ``op`` module calls
    its proxy's method, so the module attributes are what a revision reaches."""
    import alembic.op as op_module

    saved = {name: op_module.__dict__.get(name, _MISSING) for name in EC_OPERATIONS}
    for name in EC_OPERATIONS:
        setattr(op_module, name, stand_in(name))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is _MISSING:
                delattr(op_module, name)
            else:
                setattr(op_module, name, value)


def _capture(script: Any) -> tuple[list[_Call], bool, bool]:
    """Run ``upgrade()`` offline (no database: other operations only render SQL into a
    buffer) and record the ec operations it calls; also whether other operations render
    before the first and after the last of them."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    buffer = io.StringIO()
    calls: list[_Call] = []
    rendered_at: list[int] = []

    def stand_in(name: str) -> Callable[..., Any]:
        def record(*args: Any, **kwargs: Any) -> None:
            calls.append(_Call(name, args, kwargs))
            rendered_at.append(len(buffer.getvalue()))

        return record

    context = MigrationContext.configure(
        dialect_name="postgresql",
        opts={"as_sql": True, "output_buffer": buffer, "literal_binds": True},
    )
    try:
        with Operations.context(context), _ec_operations(stand_in):
            script.module.upgrade()
    except Exception as exc:  # the revision's own code: report it, never a traceback
        if not any(c.operation == EXPAND for c in calls):
            raise ConfigError(
                f"revision {script.revision} ({script.path}): running upgrade() without a "
                f"database failed before op.expand_contract: {type(exc).__name__}: {exc}",
                "ec verify runs upgrade() offline to read the operations given to "
                "op.expand_contract; build them without querying the database",
            ) from None
        return calls, rendered_at[0] > 0, True
    if not calls:
        return calls, False, False
    return calls, rendered_at[0] > 0, len(buffer.getvalue()) > rendered_at[-1]


def _migration(revision: str, path: Path, calls: list[_Call]) -> Migration:
    expands = [c for c in calls if c.operation == EXPAND]
    where = f"revision {revision} ({path})"
    if not expands:
        others = sorted({f"op.{c.operation}" for c in calls})
        hint = (
            "ec verify checks the revision that starts an ec migration: give --revision the "
            "revision whose upgrade() calls op.expand_contract([...]); to check a plain "
            "migration file, give it as MIGRATION instead of --alembic"
        )
        if others:
            raise ConfigError(f"{where} calls {', '.join(others)} but not op.expand_contract", hint)
        raise ConfigError(f"{where} does not call op.expand_contract", hint)
    if len(expands) > 1:
        raise ConfigError(
            f"{where} calls op.expand_contract {len(expands)} times; ec verify checks one ec "
            "migration at a time",
            "put each op.expand_contract in its own revision",
        )
    return _spec_migration(revision, path, expands[0])


def _spec_migration(revision: str, path: Path, call: _Call) -> Migration:
    """The migration the runtime op builds from the same arguments (same naming rules)."""
    from expandcontract.alembic.ec_revision import RevisionFile, build_migration

    kwargs = dict(call.kwargs)
    args = list(call.args)
    operations = args.pop(0) if args else kwargs.pop("operations", None)
    name = args.pop(0) if args else kwargs.pop("name", None)
    if args or kwargs:
        raise ConfigError(
            f"revision {revision}: op.expand_contract got unexpected arguments",
            "its signature is (operations, name=None)",
        )
    return build_migration(operations, name, RevisionFile(revision, path.resolve()))


def _database_name(url: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    from expandcontract.dsn import to_psycopg

    return str(conninfo_to_dict(to_psycopg(url)).get("dbname") or "")


@contextlib.contextmanager
def _only_database(name: str, config_path: Path) -> Iterator[None]:
    """Every connection SQLAlchemy opens meanwhile must go to the throwaway database: an
    env.py that reads its URL from somewhere else would otherwise migrate a real one."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def guard(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        target = cparams.get("dbname") or cparams.get("database")
        if target != name:
            shown = f"database {target!r}" if target else "a database it does not name"
            raise ConfigError(
                f"--alembic {config_path}: env.py connected to {shown}, not to verify's "
                f"throwaway database {name!r}; nothing was run there",
                "ec verify sets sqlalchemy.url (and config.attributes['connection']); make "
                "env.py use one of them instead of reading its own URL",
            )

    event.listen(Engine, "do_connect", guard)
    try:
        yield
    finally:
        event.remove(Engine, "do_connect", guard)


@contextlib.contextmanager
def _logging_kept() -> Iterator[None]:
    """env.py calls logging.fileConfig(alembic.ini), which disables every other logger and
    replaces the root handlers; put ec's logging back afterwards. Alembic's INFO lines about a
    throwaway database are noise in verify's output: only warnings pass meanwhile."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    silenced = logging.root.manager.disable
    logging.disable(max(silenced, logging.INFO))
    disabled = {
        name: logger.disabled
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    try:
        yield
    finally:
        logging.disable(silenced)
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, was in disabled.items():
            logging.getLogger(name).disabled = was


def _upgrade(config: Any, sa_url: str, target: str) -> None:
    from alembic import command
    from alembic.util import CommandError
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(sa_url, poolclass=NullPool)
    try:
        # connect(), not begin(): env.py's begin_transaction() owns the transactions, and
        # ec's directives and safe ops leave them (autocommit_block), which Alembic refuses
        # inside a transaction the caller began.
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, target)
            connection.commit()  # whatever an env.py left open
    except ECError:
        raise
    except CommandError as exc:
        raise ConfigError(f"alembic upgrade {target} on the throwaway database: {exc}") from None
    except Exception as exc:  # env.py or an earlier revision: report it, never a traceback
        raise ConfigError(
            f"alembic upgrade {target} on the throwaway database failed: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            "the revisions before the one verified must upgrade an empty database",
        ) from None
    finally:
        config.attributes.pop("connection", None)
        engine.dispose()


def _run_until_expand(sa_url: str, revision: AlembicRevision) -> None:
    """The revision's operations before op.expand_contract, on the throwaway database."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    def stand_in(name: str) -> Callable[..., Any]:
        def stop(*args: Any, **kwargs: Any) -> None:
            raise _StopBeforeExpand

        return stop

    engine = create_engine(sa_url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            context = MigrationContext.configure(connection=connection)
            with (
                Operations.context(context),
                _ec_operations(stand_in),
                contextlib.suppress(_StopBeforeExpand),
            ):
                revision.module.upgrade()
    except ECError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"revision {revision.revision}: the operations before op.expand_contract failed "
            f"on the throwaway database: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        ) from None
    finally:
        engine.dispose()
