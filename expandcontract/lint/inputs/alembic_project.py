"""Alembic revisions rendered offline, one by one, with no database (MigrationContext in
``as_sql`` mode), and the line of the revision file that emitted each SQL line recorded, so
findings point at ``op.…`` calls in the revision, not at generated SQL."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from expandcontract.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import Script, ScriptDirectory

EXPAND, CONTRACT = "expand", "contract"
_PHASES = (EXPAND, CONTRACT)


@dataclass
class RenderedRevision:
    path: str
    revision: str
    sql: str
    phase: str
    # rendered line (1-based) -> revision file line
    line_map: dict[int, int] = field(default_factory=dict)
    error: str | None = None
    # ec.safe_ops refused an operation: (line of the op.* call, message, hint)
    refusal: tuple[int, str, str] | None = None

    def map_line(self, line: int) -> int:
        candidates = [k for k in self.line_map if k <= line]
        return self.line_map[max(candidates)] if candidates else 1


class _TracingBuffer(io.StringIO):
    """Records which line of the revision file was executing when SQL was written."""

    def __init__(self, revision_path: str, prefix: str) -> None:
        super().__init__()
        self.revision_path = str(Path(revision_path).resolve())
        self.lines: dict[int, int] = {}
        super().write(prefix)

    def write(self, s: str) -> int:
        frame = sys._getframe(1)
        while frame is not None:
            if str(Path(frame.f_code.co_filename).resolve()) == self.revision_path:
                start_line = self.getvalue().count("\n") + 1
                # the lines ``s`` puts text on: not the empty one after its final newline,
                # which belongs to whatever is written next (mapping it here put every
                # statement after the first on the line of the op.* call before it)
                spanned = s.count("\n") + (0 if s.endswith("\n") else 1)
                for k in range(spanned):
                    self.lines.setdefault(start_line + k, frame.f_lineno)
                break
            frame = frame.f_back  # type: ignore[assignment]
        return super().write(s)


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


def _own_phase(script: Script) -> str:
    """The branch a revision starts, from the labels written in its own file.
    ``Script.branch_labels`` is not used: Alembic also copies a label to the ancestors of
    the labelled revision up to the nearest branch point, which would make the history
    before an ``expand`` branch expand too."""
    from alembic.util import to_tuple

    labels = to_tuple(getattr(script.module, "branch_labels", None), default=())
    return next((phase for phase in _PHASES if phase in labels), "")


def _branch_phases(revisions: list[Script]) -> dict[str, str]:
    """revision -> expand | contract | "", inherited from the nearest labelled ancestor
    along down_revision (depends_on does not make a revision part of a branch). A revision
    descending from both branches (a merge of them) runs after contract, so it is contract."""
    from alembic.util import to_tuple

    by_id = {script.revision: script for script in revisions}
    phases: dict[str, str] = {}
    for script in revisions:
        stack = [script]
        while stack:  # iterative: a long history must not hit the recursion limit
            current = stack[-1]
            if current.revision in phases:
                stack.pop()
                continue
            own = _own_phase(current)
            parents = [by_id[p] for p in to_tuple(current.down_revision, default=()) if p in by_id]
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


def _phase(script: Script, branch_phase: str) -> str:
    tagged = getattr(script.module, "ec_phase", "")
    return str(tagged) if tagged in _PHASES else branch_phase


def render(path: Path, *, within: Path | None = None) -> list[RenderedRevision]:
    """Every revision of the project at ``path`` rendered offline, base first; with
    ``within`` (a revision file or a folder), only the revisions there. Branch phases are
    computed over the whole history either way."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext
    from alembic.util import CommandError

    try:
        scripts = _scripts(path)
        revisions = list(reversed(list(scripts.walk_revisions("base", "heads"))))
    except CommandError as exc:
        raise ConfigError(f"cannot read Alembic project {path}: {exc}") from exc
    phases = _branch_phases(revisions)
    # The project's config, as `alembic upgrade --sql` has it: with `ec.safe_ops = true`
    # ec's plugin renders Alembic's op.* in their lock-safe forms, and lint must see those.
    environment = _environment(path, scripts)
    if within is not None:
        folder = within.resolve()
        revisions = [r for r in revisions if _inside(Path(r.path).resolve(), folder)]
    out: list[RenderedRevision] = []
    for script in revisions:
        # env.py normally runs each upgrade in one transaction (PostgreSQL has transactional
        # DDL); autocommit_block() renders as COMMIT … BEGIN inside it.
        buffer = _TracingBuffer(script.path, "BEGIN;\n")
        phase = _phase(script, phases.get(script.revision, ""))
        rendered = RenderedRevision(script.path, script.revision, "", phase)
        ctx = MigrationContext.configure(
            dialect_name="postgresql",
            opts={"as_sql": True, "output_buffer": buffer, "literal_binds": True},
            environment_context=environment,
        )
        try:
            with Operations.context(ctx):
                script.module.upgrade()
        except Exception as exc:
            refusal = _safe_ops_refusal(exc, script.path)
            if refusal is not None:  # what `alembic upgrade` would refuse: a finding
                rendered.refusal = refusal
            else:  # the revision itself is broken: say so, lint the rest
                rendered.error = f"cannot render revision offline: {type(exc).__name__}: {exc}"
        rendered.sql = buffer.getvalue() + "\nCOMMIT;\n"
        rendered.line_map = buffer.lines
        out.append(rendered)
    return out


def _environment(path: Path, scripts: ScriptDirectory) -> EnvironmentContext | None:
    config = _config(path)
    if config is None:
        return None
    from alembic.runtime.environment import EnvironmentContext

    return EnvironmentContext(config, scripts)


def _safe_ops_refusal(exc: Exception, revision_path: str) -> tuple[int, str, str] | None:
    """(line, message, hint) when ec.safe_ops refused an operation of the revision."""
    from expandcontract.alembic.safe_checks import UnsafeOperation

    if not isinstance(exc, UnsafeOperation):
        return None
    wanted = Path(revision_path).resolve()
    line = 1
    tb = exc.__traceback__
    while tb is not None:  # the innermost frame in the revision file: its op.* call
        if Path(tb.tb_frame.f_code.co_filename).resolve() == wanted:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line, exc.message, exc.hint or ""
