"""Lint one discovered ec migration file or Alembic project."""

from __future__ import annotations

from pathlib import Path

from expandcontract.lint.engine import lint_sql
from expandcontract.lint.findings import FileReport
from expandcontract.lint.settings import LintSettings


def lint_ec_file(path: str, settings: LintSettings, content: bytes | None = None) -> FileReport:
    from expandcontract.lint.inputs.ec_migration import read, rule_findings
    from expandcontract.lint.inputs.sql_files import read_text

    text = read_text(path, content)
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


def lint_alembic(path: str, settings: LintSettings) -> list[FileReport]:
    """An Alembic project, folder or revision file: read statically (``inputs.alembic_lint``)."""
    from expandcontract.lint.inputs.alembic_lint import lint_alembic as lint

    return lint(path, settings)


def lint_target(
    path: str, kind: str, settings: LintSettings, content: bytes | None = None
) -> list[FileReport]:
    """Reports for one ec migration file or Alembic project (SQL files and stdin are
    ``inputs.sql_files``'); ``content`` is the file's bytes when the caller already read them."""
    if kind == "alembic":
        return lint_alembic(path, settings)
    return [lint_ec_file(path, settings, content)]
