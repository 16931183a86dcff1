"""Lint many paths: discover migration files, serve cache hits, lint misses in parallel.

Heavy modules (sqlglot, alembic) are imported only when a file actually needs linting.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expandcontract.errors import ConfigError
from expandcontract.lint.cache import ReadFile, ResultCache, read_file
from expandcontract.lint.findings import FileReport
from expandcontract.lint.settings import LintSettings

_PARALLEL_THRESHOLD = 32  # below this, process start-up costs more than it saves
_CACHED_KINDS = ("sql", "ec")  # an Alembic revision depends on its siblings; stdin has no file


@dataclass(frozen=True)
class Target:
    path: str
    kind: str  # sql | ec | alembic (a project, a folder inside one, or a revision file)
    content: bytes | None = None  # the file's bytes when already read (hashed for the cache)
    tool: str = "auto"  # the migration tool's convention (conventions.py), or auto-detect


def discover(paths: list[str], tool: str = "auto") -> list[Target]:
    from expandcontract.lint.inputs.alembic_project import in_script_dir, is_alembic_dir
    from expandcontract.lint.inputs.conventions import is_dump

    targets: list[Target] = []
    for raw in paths:
        if raw == "-":
            targets.append(Target("-", "stdin", tool=tool))
            continue
        path = Path(raw)
        if not path.exists():
            raise ConfigError(f"no such file or directory: {raw}")
        # an Alembic project, a folder of its revisions (alembic/versions), or one revision
        # file: revisions are linted within their project's history (branch, order)
        if is_alembic_dir(path) or (path.is_dir() and in_script_dir(path)):
            targets.append(Target(str(path), "alembic"))
            continue
        single = path.is_file()
        if single and path.suffix.lower() == ".py":
            targets.append(Target(str(path), "alembic"))
            continue
        for file in [str(path)] if single else _walk(str(path)):
            suffix = os.path.splitext(file)[1].lower()
            # down files are linted too (rollback phase); schema dumps only when named
            if suffix == ".sql" and (single or not is_dump(Path(file))):
                targets.append(Target(file, "sql", tool=tool))
            elif suffix in (".yaml", ".yml", ".json") and (single or _looks_ec(Path(file))):
                targets.append(Target(file, "ec"))
    return targets


def _walk(root: str) -> list[str]:
    """Every file under ``root`` in ``Path.rglob`` order (path parts compared one by one),
    symlinked directories not followed, with one ``scandir`` per directory."""
    found: list[str] = []
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file():
                    found.append(entry.path)
    return sorted(found, key=lambda f: f.split(os.sep))


def _looks_ec(file: Path) -> bool:
    try:
        head = file.read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return False
    return "operations" in head


def lint_target(target: Target, settings: LintSettings) -> list[FileReport]:
    if target.kind in ("sql", "stdin"):  # as the migration tool runs the file
        from expandcontract.lint.inputs.sql_files import lint_file, lint_text

        if target.kind == "stdin":
            import sys

            return [lint_text(sys.stdin.read(), "<stdin>", settings, target.tool)]
        return [lint_file(target.path, settings, target.content, target.tool)]
    from expandcontract.lint import sources

    return sources.lint_target(target.path, target.kind, settings, target.content)


def _size(target: Target) -> int:
    try:
        return os.path.getsize(target.path)
    except OSError:  # a folder (Alembic project) or stdin: weigh it like a big file
        return 1 << 20


def _work(
    args: tuple[Target, LintSettings], cache: ResultCache | None
) -> tuple[ReadFile | None, list[dict[str, Any]]]:
    """Hash one file (a cache hit by content needs no lint), lint it otherwise. Runs in worker
    processes: the hashing is parallel too. ``cache`` is None where workers cannot share it
    (executor fallback): the file is then linted even if its content is known."""
    target, settings = args
    if target.kind not in _CACHED_KINDS:
        return None, [r.to_cache() for r in lint_target(target, settings)]
    read = read_file(target.path, target.kind, os.getcwd())
    hit = cache.get(read.key) if cache is not None else None
    if hit is None:
        reports = lint_target(Target(target.path, target.kind, read.content, target.tool), settings)
        found = [r.to_cache() for r in reports]
    else:
        found = [hit]
    return read._replace(content=None), found


@contextlib.contextmanager
def _few_collections() -> Iterator[None]:
    """Parsing allocates hundreds of thousands of short-lived nodes; the default gen-0
    threshold (700) makes the collector rescan them constantly. Collect less often and never
    rescan what was imported before (frozen; forked workers inherit both); cycles are still
    collected. The caller's settings come back afterwards: this is a library too."""
    import gc

    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def lint_paths(
    paths: list[str],
    settings: LintSettings,
    *,
    cache_dir: Path | None = None,
    jobs: int | None = None,
    migration_tool: str = "auto",
) -> list[FileReport]:
    with _few_collections():
        return _lint_paths(paths, settings, cache_dir, jobs, migration_tool)


def _lint_paths(
    paths: list[str],
    settings: LintSettings,
    cache_dir: Path | None,
    jobs: int | None,
    tool: str,
) -> list[FileReport]:
    targets = discover(paths, tool)
    cache = ResultCache(cache_dir, f"{settings.fingerprint()}|tool:{tool}")
    reports: dict[int, list[FileReport]] = {}
    pending: list[tuple[int, Target]] = []
    for i, target in enumerate(targets):
        key = cache.known_key(target.path, target.kind) if target.kind in _CACHED_KINDS else None
        hit = cache.get(key) if key is not None else None
        if hit is not None:  # stat unchanged: not even read
            reports[i] = [FileReport.from_cache(hit, target.path)]
        else:
            pending.append((i, target))
    jobs = jobs or min(os.cpu_count() or 1, 8)
    items = [(t, settings) for _, t in pending]
    if len(pending) >= _PARALLEL_THRESHOLD and jobs > 1:
        # import the linter and its rules before forking, so workers share them instead of
        # each importing them again (sqlglot is loaded by a worker only if a statement needs it)
        import expandcontract.lint.inputs.sql_files
        import expandcontract.lint.sources  # noqa: F401
        from expandcontract.lint.parallel import map_in_processes
        from expandcontract.lint.registry import active_rules

        active_rules(settings)
        sizes = [_size(t) for _, t in pending]
        outcomes = map_in_processes(_work, items, sizes, jobs, shared=cache)
    else:
        outcomes = [_work(item, cache) for item in items]
    for (i, target), (read, found) in zip(pending, outcomes, strict=True):
        # a content hit may come from another path with the same bytes: report this one
        reports[i] = [FileReport.from_cache(d, target.path if read else d["path"]) for d in found]
        if read is not None:
            cache.remember(read)
            if len(found) == 1:
                cache.put(read.key, found[0])
    cache.save()
    return [r for i in sorted(reports) for r in reports[i]]
