"""The library entry point behind ``ec lint``."""

from __future__ import annotations

from pathlib import Path

from expandcontract.lint.cache import default_dir
from expandcontract.lint.catalog import Catalog, SizeLimits, activated
from expandcontract.lint.config import load_migration_tool, load_settings
from expandcontract.lint.findings import FileReport
from expandcontract.lint.settings import at_least


def run_lint(
    paths: list[str],
    *,
    pg_version: int | None = None,
    since: str | None = None,
    select: list[str] | None = None,
    ignore: list[str] | None = None,
    fail_on: str | None = None,
    assume_in_transaction: bool | None = None,
    use_cache: bool = True,
    migration_tool: str | None = None,
    database_url: str | None = None,
    large_table_rows: int | None = None,
) -> tuple[list[FileReport], bool]:
    """(file reports, whether any finding is at or above the fail level).

    ``database_url``: read the target database's catalog once (read-only) so rules know old
    column types, which tables exist and how big they are; ``large_table_rows`` moves the
    row count from which a rewrite or scan is an error (default 1,000,000)."""
    from expandcontract.lint.batch import lint_paths
    from expandcontract.lint.registry import check_rule_ids

    settings = load_settings(
        pg_version=pg_version,
        select=select or (),
        ignore=ignore or (),
        fail_on=fail_on,
        assume_in_transaction=assume_in_transaction,
    )
    tool = load_migration_tool(migration_tool=migration_tool)
    check_rule_ids(settings)  # unknown ids are a usage error before any file is read
    catalog = _catalog(database_url, large_table_rows)
    # findings depend on the database's facts of the moment: never cached
    use_cache = use_cache and catalog is None
    with activated(catalog):
        reports = lint_paths(
            paths,
            settings,
            cache_dir=default_dir() if use_cache else None,
            migration_tool=tool,
            jobs=None if catalog is None or _workers_inherit() else 1,
        )
    from expandcontract.lint.ordering import check_order

    check_order(reports, settings)
    if since is not None:
        from expandcontract.lint.gitdiff import changed_files

        changed = changed_files(since)
        reports = [r for r in reports if Path(r.path).resolve() in changed]
    failed = any(at_least(s, settings.fail_on) for r in reports for s in r.severities())
    return reports, failed


def _catalog(database_url: str | None, large_table_rows: int | None) -> Catalog | None:
    if not database_url:
        return None
    from expandcontract.lint.catalog import load_catalog

    limits = SizeLimits() if large_table_rows is None else SizeLimits(rows=large_table_rows)
    return load_catalog(database_url, limits)


def _workers_inherit() -> bool:
    """Lint workers see the run's catalog only if they are forked from this process."""
    import multiprocessing
    import os

    method = multiprocessing.get_start_method(allow_none=True)
    return hasattr(os, "fork") and (method or multiprocessing.get_all_start_methods()[0]) == "fork"
