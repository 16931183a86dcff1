"""Lint one discovered target (SQL file, ec migration file, Alembic project)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from expandcontract.lint.engine import lint_sql
from expandcontract.lint.findings import FileReport, Finding
from expandcontract.lint.settings import LintSettings


def _read(path: str, content: bytes | None) -> str:
    if content is None:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    # as read_text does: universal newlines, so offsets and lines are the same either way
    text = content.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def lint_sql_file(path: str, settings: LintSettings, content: bytes | None = None) -> FileReport:
    from expandcontract.lint.inputs.sql_files import prepare

    text = _read(path, content)
    source = prepare(Path(path), text)
    if source.assume_in_transaction is not None:
        settings = dataclasses.replace(settings, assume_in_transaction=source.assume_in_transaction)
    return lint_sql(source.text, path, settings)


def lint_ec_file(path: str, settings: LintSettings, content: bytes | None = None) -> FileReport:
    from expandcontract.lint.inputs.ec_migration import read, rule_findings

    text = _read(path, content)
    migration = read(Path(path), text)
    report = FileReport(path)
    if migration is None:
        report.status, report.reason = "unparsed", "not an ec migration file (no operations: list)"
        return report
    if migration.read_error is not None:
        report.status, report.reason = "unparsed", migration.read_error.message
    for part in migration.snippets:
        sub = lint_sql(part.sql, path, settings, phase=part.phase)
        report.statements += sub.statements
        if sub.status != "ok" and report.status == "ok":
            report.status, report.reason = sub.status, sub.reason
        for finding in sub.findings:
            finding.line += part.line - 1
            if part.direction == "down":
                finding.message = f"(down) {finding.message}"
            report.findings.append(finding)
    report.findings += rule_findings(path, migration, settings)
    report.findings.sort(key=lambda f: (f.line, f.column, f.rule))
    return report


def _skipped(path: str, reason: str) -> FileReport:
    return FileReport(path, status="skipped", reason=reason)


def _refused(path: str, line: int, message: str, hint: str) -> Finding:
    """An operation `alembic upgrade` would refuse under ec.safe_ops (the revision stops
    there, nothing of it stays): reported like an ec migration that `ec plan` refuses."""
    from expandcontract.lint.rules.invalid_migration import RULE

    return Finding(path, line, 1, RULE.id, RULE.severity, f"ec.safe_ops: {message}", hint)


def lint_alembic(path: str, settings: LintSettings) -> list[FileReport]:
    """An Alembic project folder: every revision. A revision file, or a folder inside the
    project (``alembic/versions``): only the revisions there, in the project's history (so
    a revision knows its branch). A ``.py`` that is not a revision is reported as skipped."""
    from expandcontract.lint.inputs.alembic_project import find_project, is_alembic_dir, render
    from expandcontract.lint.registry import is_active
    from expandcontract.lint.rules import invalid_migration

    target = Path(path)
    project = target if is_alembic_dir(target) else find_project(target)
    if project is None:
        return [
            _skipped(
                path,
                "not an Alembic revision: no alembic.ini, nor env.py next to versions/, "
                "in any folder above it",
            )
        ]
    revisions = render(project, within=None if project is target else target)
    if target.is_file() and not revisions:
        return [
            _skipped(
                path,
                f"not an Alembic revision: the Alembic project in {project} does not load it "
                "as one",
            )
        ]
    plain = dataclasses.replace(settings, assume_in_transaction=False)
    reports: list[FileReport] = []
    for revision in revisions:
        # a single file is reported under the name it was given, as SQL files are
        shown = path if target.is_file() else revision.path
        report = lint_sql(revision.sql, shown, plain, phase=revision.phase)
        for finding in report.findings:
            finding.line = revision.map_line(finding.line)
            finding.column = 1
        report.contracts = {t: revision.map_line(n) for t, n in report.contracts.items()}
        report.statements = max(0, report.statements - 2)  # the BEGIN/COMMIT we added
        if revision.error:
            report.status, report.reason = "unparsed", revision.error
        if revision.refusal is not None and is_active(invalid_migration.RULE, settings):
            report.findings.append(_refused(shown, *revision.refusal))
        reports.append(report)
    return reports


def lint_target(
    path: str, kind: str, settings: LintSettings, content: bytes | None = None
) -> list[FileReport]:
    """Reports for one target; ``content`` is the file's bytes when the caller already read
    them."""
    if kind == "stdin":
        import sys

        return [lint_sql(sys.stdin.read(), "<stdin>", settings)]
    if kind == "alembic":
        return lint_alembic(path, settings)
    if kind == "ec":
        return [lint_ec_file(path, settings, content)]
    return [lint_sql_file(path, settings, content)]
