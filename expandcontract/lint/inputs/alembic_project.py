"""Alembic revisions rendered offline, one by one, with no database (MigrationContext in
``as_sql`` mode), and the line of the revision file that emitted each SQL line recorded, so
findings point at ``op.…`` calls in the revision, not at generated SQL."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

from expandcontract.errors import ConfigError


@dataclass
class RenderedRevision:
    path: str
    revision: str
    sql: str
    phase: str
    # rendered line (1-based) -> revision file line
    line_map: dict[int, int] = field(default_factory=dict)
    error: str | None = None

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
                for k in range(s.count("\n") + 1):
                    self.lines.setdefault(start_line + k, frame.f_lineno)
                break
            frame = frame.f_back  # type: ignore[assignment]
        return super().write(s)


def is_alembic_dir(path: Path) -> bool:
    return path.is_dir() and (
        (path / "alembic.ini").is_file()
        or ((path / "env.py").is_file() and (path / "versions").is_dir())
    )


def _script_location(path: Path) -> Path:
    ini = path / "alembic.ini"
    if ini.is_file():
        from alembic.config import Config

        location = Config(str(ini)).get_main_option("script_location") or "alembic"
        location = location.replace("%(here)s", str(path))
        return (path / location).resolve()
    return path


def _phase(script: object) -> str:
    module = getattr(script, "module", None)
    tagged = getattr(module, "ec_phase", "")
    if tagged in ("expand", "contract"):
        return str(tagged)
    labels = set(getattr(script, "branch_labels", set()) or set())
    for phase in ("expand", "contract"):
        if phase in labels:
            return phase
    return ""


def render(path: Path) -> list[RenderedRevision]:
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        scripts = ScriptDirectory(str(_script_location(path)))
        revisions = list(reversed(list(scripts.walk_revisions("base", "heads"))))
    except CommandError as exc:
        raise ConfigError(f"cannot read Alembic project {path}: {exc}") from exc
    out: list[RenderedRevision] = []
    for script in revisions:
        # env.py normally runs each upgrade in one transaction (PostgreSQL has transactional
        # DDL); autocommit_block() renders as COMMIT … BEGIN inside it.
        buffer = _TracingBuffer(script.path, "BEGIN;\n")
        rendered = RenderedRevision(script.path, script.revision, "", _phase(script))
        ctx = MigrationContext.configure(
            dialect_name="postgresql",
            opts={"as_sql": True, "output_buffer": buffer, "literal_binds": True},
        )
        try:
            with Operations.context(ctx):
                script.module.upgrade()
        except Exception as exc:  # the revision itself is broken: say so, lint the rest
            rendered.error = f"cannot render revision offline: {type(exc).__name__}: {exc}"
        rendered.sql = buffer.getvalue() + "\nCOMMIT;\n"
        rendered.line_map = buffer.lines
        out.append(rendered)
    return out
