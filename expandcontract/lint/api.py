"""The library entry point behind ``ec lint``."""

from __future__ import annotations

from pathlib import Path

from expandcontract.lint.cache import default_dir
from expandcontract.lint.config import load_settings
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
) -> tuple[list[FileReport], bool]:
    """(file reports, whether any finding is at or above the fail level)."""
    from expandcontract.lint.batch import lint_paths
    from expandcontract.lint.registry import check_rule_ids

    settings = load_settings(
        pg_version=pg_version,
        select=select or (),
        ignore=ignore or (),
        fail_on=fail_on,
        assume_in_transaction=assume_in_transaction,
    )
    check_rule_ids(settings)  # unknown ids are a usage error before any file is read
    reports = lint_paths(paths, settings, cache_dir=default_dir() if use_cache else None)
    from expandcontract.lint.ordering import check_order

    check_order(reports, settings)
    if since is not None:
        from expandcontract.lint.gitdiff import changed_files

        changed = changed_files(since)
        reports = [r for r in reports if Path(r.path).resolve() in changed]
    failed = any(at_least(s, settings.fail_on) for r in reports for s in r.severities())
    return reports, failed
