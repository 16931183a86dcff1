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
from expandcontract.lint.cache import ResultCache
from expandcontract.lint.findings import FileReport
from expandcontract.lint.settings import LintSettings

_PARALLEL_THRESHOLD = 32  # below this, process start-up costs more than it saves


@dataclass(frozen=True)
class Target:
    path: str
    kind: str  # sql | ec | alembic


def discover(paths: list[str]) -> list[Target]:
    from expandcontract.lint.inputs.alembic_project import is_alembic_dir
    from expandcontract.lint.inputs.sql_files import is_down_file

    targets: list[Target] = []
    for raw in paths:
        if raw == "-":
            targets.append(Target("-", "stdin"))
            continue
        path = Path(raw)
        if not path.exists():
            raise ConfigError(f"no such file or directory: {raw}")
        if is_alembic_dir(path):
            targets.append(Target(str(path), "alembic"))
            continue
        single = path.is_file()
        for file in [str(path)] if single else _walk(str(path)):
            suffix = os.path.splitext(file)[1].lower()
            if suffix == ".sql" and (single or not is_down_file(os.path.basename(file))):
                targets.append(Target(file, "sql"))
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
    from expandcontract.lint import sources

    return sources.lint_target(target.path, target.kind, settings)


def _worker(args: tuple[Target, LintSettings]) -> list[dict[str, Any]]:
    return [r.to_cache() for r in lint_target(*args)]


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
) -> list[FileReport]:
    with _few_collections():
        return _lint_paths(paths, settings, cache_dir, jobs)


def _lint_paths(
    paths: list[str], settings: LintSettings, cache_dir: Path | None, jobs: int | None
) -> list[FileReport]:
    targets = discover(paths)
    cache = ResultCache(cache_dir, settings.fingerprint())
    reports: dict[int, list[FileReport]] = {}
    misses: list[tuple[int, Target, str | None]] = []
    for i, target in enumerate(targets):
        key = None
        if target.kind not in ("alembic", "stdin"):  # a revision depends on its siblings
            key = cache.key_for(target.path, target.kind)
            hit = cache.get(key)
            if hit is not None:
                reports[i] = [FileReport.from_cache(hit, target.path)]
                continue
        misses.append((i, target, key))
    jobs = jobs or min(os.cpu_count() or 1, 8)
    if len(misses) >= _PARALLEL_THRESHOLD and jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        # import the parser before forking so workers share it instead of importing it again
        import expandcontract.lint.sources  # noqa: F401

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            chunk = max(1, len(misses) // (jobs * 4))
            results = list(
                pool.map(_worker, [(t, settings) for _, t, _ in misses], chunksize=chunk)
            )
        done = [[FileReport.from_cache(d, d["path"]) for d in res] for res in results]
    else:
        done = [lint_target(t, settings) for _, t, _ in misses]
    for (i, _target, key), result in zip(misses, done, strict=True):
        reports[i] = result
        if key is not None and len(result) == 1:
            cache.put(key, result[0].to_cache())
    cache.save()
    return [r for i in sorted(reports) for r in reports[i]]
