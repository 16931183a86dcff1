"""Alembic revisions rendered offline, one by one, with no database (MigrationContext in
``as_sql`` mode), and the line of the revision file that produced each SQL line recorded, so
findings point at ``op.…`` calls in the revision, not at generated SQL.

By default no code of the project runs: the history is built from each revision file's
literal ``revision``/``down_revision``/... (alembic_static.py) and its ``op.*`` calls are
rendered by Alembic from statically evaluated arguments (alembic_offline.py). CI lints pull
requests from forks; importing their revision files would run their code. Importing and
running ``upgrade()``/``downgrade()`` (what ``alembic upgrade --sql`` does) is an opt-in of
the person running ec (``ec lint --alembic-execute``, ``execute=True``), never a setting of the
repository being linted: a pull request could change that."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expandcontract.errors import ConfigError
from expandcontract.lint.inputs.alembic_offline import Rendered, render_executed, render_static
from expandcontract.lint.inputs.alembic_static import StaticRevision, Unread, UnreadableFile, read

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import ScriptDirectory

EXPAND, CONTRACT = "expand", "contract"
_PHASES = (EXPAND, CONTRACT)
# the files Alembic loads from a version location (alembic.script.base)
_REVISION_FILE = re.compile(r"(?!\.\#|__init__)(.*\.py)$")
_LEGACY_REVISION = re.compile(r"([a-f0-9]+)\.py$")

# `ec lint --alembic-execute` for this process (forked workers inherit
# it); None: each project's own setting decides
_execute_override: bool | None = None


@contextlib.contextmanager
def execution(enabled: bool | None) -> Iterator[None]:
    """Within the block, revisions are imported and run (True) or read statically (False)
    whatever their project says; None leaves it to the project."""
    global _execute_override
    saved, _execute_override = _execute_override, enabled
    try:
        yield
    finally:
        _execute_override = saved


@dataclass(kw_only=True)
class RenderedRevision(Rendered):
    """A revision's ``upgrade()`` (the fields of Rendered) and its ``downgrade()``."""

    path: str
    revision: str
    phase: str
    static: bool = True  # read with ast; False: imported and run (the opt-in)
    downgrade: Rendered | None = None


@dataclass
class _Revision:
    """One revision of the history, however it was read."""

    path: str
    revision: str
    down_revision: tuple[str, ...]
    branch_labels: tuple[str, ...]
    ec_phase: Any = ""
    static: StaticRevision | None = None
    upgrade: Callable[[], Any] | None = None  # the imported module's functions (opt-in)
    downgrade_fn: Callable[[], Any] | None = None
    unread: list[Unread] = field(default_factory=list)


def is_alembic_dir(path: Path) -> bool:
    from expandcontract.alembic.project import config_file_in

    return path.is_dir() and (config_file_in(path) is not None or _is_script_dir(path))


def _is_script_dir(path: Path) -> bool:
    return (path / "env.py").is_file() and (path / "versions").is_dir()


def _config(path: Path) -> Config | None:
    """alembic.ini and/or ``[tool.alembic]`` of pyproject.toml in the project folder."""
    from expandcontract.alembic.project import config_file_in, load_config

    found = config_file_in(path)
    return None if found is None else load_config(found)


def _scripts(path: Path) -> ScriptDirectory:
    """The project's ScriptDirectory as alembic.ini describes it (script_location and
    version_locations, relative ones taken from the ini's folder), without running env.py."""
    from alembic.script import ScriptDirectory

    config = _config(path)
    if config is None:
        return ScriptDirectory(str(path))
    location = config.get_alembic_option("script_location") or "alembic"
    # a template that leaves %(here)s is a project from before Config knew it
    location = location.replace("%(here)s", str(path))
    versions = [str(path / v) for v in config.get_version_locations_list() or ()]
    return ScriptDirectory(
        str((path / location).resolve()),
        version_locations=versions or None,
        recursive_version_locations=str(config.get_alembic_option("recursive_version_locations"))
        == "true",
    )


def _locations(scripts: ScriptDirectory) -> list[Path]:
    return [Path(scripts.dir).resolve()] + [
        Path(v).resolve() for v in scripts.version_locations or ()
    ]


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _config_file_in(folder: Path) -> Path | None:
    from expandcontract.alembic.project import config_file_in

    return config_file_in(folder)


def find_project(target: Path) -> Path | None:
    """The Alembic project a revision file (or a folder of revisions) belongs to: the
    nearest folder above it with an alembic.ini whose script or version locations hold it,
    else the nearest Alembic script folder (env.py next to versions/) holding it."""
    from alembic.util import CommandError

    target = target.resolve()
    script_dir: Path | None = None
    for folder in target.parents:
        if _config_file_in(folder) is not None:
            try:
                locations = _locations(_scripts(folder))
            except CommandError:  # an ini whose script_location is elsewhere or missing
                locations = []
            if any(_inside(target, location) for location in locations):
                return folder
        if script_dir is None and _is_script_dir(folder):
            script_dir = folder
    return script_dir


def in_script_dir(folder: Path) -> bool:
    """Whether ``folder`` is inside an Alembic script folder (``alembic/versions``)."""
    return any(_is_script_dir(parent) for parent in folder.resolve().parents)


def _own_phase(revision: _Revision) -> str:
    """The branch a revision starts, from the labels written in its own file.
    ``Script.branch_labels`` is not used: Alembic also copies a label to the ancestors of
    the labelled revision up to the nearest branch point, which would make the history
    before an ``expand`` branch expand too."""
    return next((phase for phase in _PHASES if phase in revision.branch_labels), "")


def _branch_phases(revisions: list[_Revision]) -> dict[str, str]:
    """revision -> expand | contract | "", inherited from the nearest labelled ancestor
    along down_revision (depends_on does not make a revision part of a branch). A revision
    descending from both branches (a merge of them) runs after contract, so it is contract."""
    by_id = {r.revision: r for r in revisions}
    phases: dict[str, str] = {}
    for revision in revisions:
        stack = [revision]
        while stack:  # iterative: a long history must not hit the recursion limit
            current = stack[-1]
            if current.revision in phases:
                stack.pop()
                continue
            own = _own_phase(current)
            parents = [by_id[p] for p in current.down_revision if p in by_id]
            pending = [p for p in parents if p.revision not in phases]
            if pending and not own:
                stack.extend(pending)
                continue
            stack.pop()
            inherited = {phases.get(p.revision, "") for p in parents} - {""}
            phases[current.revision] = own or (
                CONTRACT if CONTRACT in inherited else next(iter(inherited), "")
            )
    return phases


def _tuple(value: Any) -> tuple[str, ...]:
    from alembic.util import to_tuple

    return tuple(str(v) for v in to_tuple(value, default=()))


def _imported(scripts: ScriptDirectory) -> list[_Revision]:
    """The history as Alembic loads it: every revision module imported (the opt-in)."""
    out = []
    for script in reversed(list(scripts.walk_revisions("base", "heads"))):
        module = script.module
        out.append(
            _Revision(
                script.path,
                script.revision,
                _tuple(script.down_revision),
                _tuple(getattr(module, "branch_labels", None)),
                getattr(module, "ec_phase", ""),
                upgrade=getattr(module, "upgrade", None),
                downgrade_fn=getattr(module, "downgrade", None),
            )
        )
    return out


def _revision_files(scripts: ScriptDirectory) -> list[Path]:
    """The .py files Alembic would load as revisions (sourceless .pyc cannot be read)."""
    locations = [Path(v) for v in scripts.version_locations or ()] or [
        Path(scripts.dir) / "versions"
    ]
    found: list[Path] = []
    seen: set[Path] = set()
    for location in locations:
        if not location.is_dir():
            continue
        pattern = "**/*.py" if scripts.recursive_version_locations else "*.py"
        for file in sorted(location.glob(pattern)):
            if "__pycache__" in file.parts or not _REVISION_FILE.match(file.name):
                continue
            if file.resolve() not in seen:
                seen.add(file.resolve())
                found.append(file)
    return found


def _static(scripts: ScriptDirectory) -> list[_Revision]:
    """The history from each revision file's literal attributes, base first, ordered by
    Alembic's own RevisionMap (no revision file is imported)."""
    from alembic.script.revision import Revision, RevisionMap

    by_id: dict[str, _Revision] = {}
    for file in _revision_files(scripts):
        try:
            static = read(file)
        except UnreadableFile as exc:
            raise ConfigError(f"cannot read Alembic revision {exc}") from exc
        attributes = static.attributes
        for name in ("revision", "down_revision", "branch_labels", "depends_on"):
            unread = static.unread_attributes.get(name)
            if unread is not None:
                raise ConfigError(
                    f"cannot read the Alembic history statically: {file}, line "
                    f"{unread.line}: {unread.reason}",
                    "write it as a literal, or let ec import the revisions: "
                    "ec lint --alembic-execute (runs their code)",
                )
        ident = attributes.get("revision")
        if ident is None:
            legacy = _LEGACY_REVISION.match(file.name)
            if legacy is None:
                continue  # Alembic refuses such a file; ec lints it as "not a revision"
            ident = legacy.group(1)
        revision = _Revision(
            str(file),
            str(ident),
            _tuple(attributes.get("down_revision")),
            _tuple(attributes.get("branch_labels")),
            attributes.get("ec_phase", ""),
            static=static,
            unread=[u for k, u in static.unread_attributes.items() if k not in ("revision",)],
        )
        by_id[revision.revision] = revision
    revision_map = RevisionMap(
        lambda: [
            Revision(
                r.revision,
                r.down_revision or None,
                _tuple(r.static.attributes.get("depends_on")) or None if r.static else None,
                r.branch_labels or None,
            )
            for r in by_id.values()
        ]
    )
    ordered = revision_map.iterate_revisions(
        "heads", "base", inclusive=True, assert_relative_length=False
    )
    return [by_id[r.revision] for r in reversed(list(ordered))]


def execute_setting(path: Path) -> bool:
    """Whether revisions are imported and run: only when the person running ec asked for it
    (``ec lint --alembic-execute``). The linted project's own files cannot turn it on: CI lints
    pull requests, and a pull request can change any file of the project."""
    return bool(_execute_override)


def render(
    path: Path, *, within: Path | None = None, execute: bool | None = None
) -> list[RenderedRevision]:
    """Every revision of the project at ``path`` rendered offline, base first; with
    ``within`` (a revision file or a folder), only the revisions there. Branch phases are
    computed over the whole history either way. ``execute`` None: execute_setting decides."""
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    run = execute_setting(path) if execute is None else execute
    try:
        scripts = _scripts(path)
        revisions = _imported(scripts) if run else _static(scripts)
    except (CommandError, RevisionError) as exc:
        raise ConfigError(f"cannot read Alembic project {path}: {exc}") from exc
    phases = _branch_phases(revisions)
    # The project's config, as `alembic upgrade --sql` has it: with `ec.safe_ops = true`
    # ec's plugin renders Alembic's op.* in their lock-safe forms, and lint must see those.
    environment = _environment(path, scripts)
    if within is not None:
        folder = within.resolve()
        revisions = [r for r in revisions if _inside(Path(r.path).resolve(), folder)]
    return [_render_one(r, phases.get(r.revision, ""), environment) for r in revisions]


def _render_one(
    revision: _Revision, branch_phase: str, environment: EnvironmentContext | None
) -> RenderedRevision:
    phase = str(revision.ec_phase) if revision.ec_phase in _PHASES else branch_phase
    if revision.static is not None:
        upgrade = render_static(revision.static, "upgrade", environment)
        downgrade = render_static(revision.static, "downgrade", environment)
    else:
        upgrade = render_executed(revision.path, revision.upgrade, environment)
        downgrade = render_executed(revision.path, revision.downgrade_fn, environment)
    if upgrade is None:
        upgrade = Rendered(sql="BEGIN;\nCOMMIT;\n", error="the revision has no upgrade()")
    out = RenderedRevision(
        path=revision.path,
        revision=revision.revision,
        phase=phase,
        static=revision.static is not None,
        downgrade=downgrade,
        sql=upgrade.sql,
        line_map=upgrade.line_map,
        error=upgrade.error,
        refusal=upgrade.refusal,
        unread=revision.unread + upgrade.unread,
    )
    return out


def _environment(path: Path, scripts: ScriptDirectory) -> EnvironmentContext | None:
    config = _config(path)
    if config is None:
        return None
    from alembic.runtime.environment import EnvironmentContext

    return EnvironmentContext(config, scripts)
