"""An Alembic target linted: each revision's rendered ``upgrade()`` in its branch phase, its
``downgrade()`` as the rollback phase, what static reading could not read as
``unanalysed-statement`` findings at their lines, and what ec.safe_ops would refuse as
``invalid-migration``. Findings are on the revision file's lines."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from expandcontract.lint.engine import lint_sql
from expandcontract.lint.findings import FileReport, Finding
from expandcontract.lint.inputs.alembic_offline import Rendered
from expandcontract.lint.inputs.alembic_project import (
    RenderedRevision,
    find_project,
    is_alembic_dir,
    render,
)
from expandcontract.lint.inputs.alembic_static import Unread
from expandcontract.lint.settings import LintSettings

STATIC_NOTE = (
    "read statically: none of the file's code ran (ec lint --alembic-execute imports and "
    "runs revisions)"
)
_SYNTHETIC = 2  # the BEGIN/COMMIT around each rendered function


def lint_alembic(path: str, settings: LintSettings) -> list[FileReport]:
    """An Alembic project folder: every revision. A revision file, or a folder inside the
    project (``alembic/versions``): only the revisions there, in the project's history (so
    a revision knows its branch). A ``.py`` that is not a revision is reported as skipped."""
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
    # a single file is reported under the name it was given, as SQL files are
    return [_lint_revision(r, path if target.is_file() else r.path, plain) for r in revisions]


def _lint_revision(revision: RenderedRevision, shown: str, settings: LintSettings) -> FileReport:
    report = _lint_part(revision, shown, settings, revision.phase)
    if revision.downgrade is not None:
        down = _lint_part(revision.downgrade, shown, settings, "rollback")
        for finding in down.findings:
            finding.message = f"(downgrade) {finding.message}"
        report.findings += down.findings
        report.statements += down.statements
        if down.status != "ok" and report.status == "ok":
            report.status, report.reason = down.status, f"downgrade(): {down.reason}"
    if revision.static and report.status == "ok":
        report.reason = STATIC_NOTE
    report.findings.sort(key=lambda f: (f.line, f.column, f.rule))
    return report


def _lint_part(part: Rendered, shown: str, settings: LintSettings, phase: str) -> FileReport:
    from expandcontract.lint.registry import is_active
    from expandcontract.lint.rules import invalid_migration, unanalysed_statement

    report = lint_sql(part.sql, shown, settings, phase=phase)
    for finding in report.findings:
        finding.line = part.map_line(finding.line)
        finding.column = 1
    report.contracts = {t: part.map_line(n) for t, n in report.contracts.items()}
    report.statements = max(0, report.statements - _SYNTHETIC)
    if part.error:
        report.status, report.reason = "unparsed", part.error
    if part.refusal is not None and is_active(invalid_migration.RULE, settings):
        report.findings.append(_refused(shown, *part.refusal))
    if is_active(unanalysed_statement.RULE, settings):
        report.findings += [unread_finding(shown, u) for u in part.unread]
    report.statements += len(part.unread)  # statements of the file, read or not
    return report


def unread_finding(path: str, unread: Unread) -> Finding:
    """What static reading could not read, as the linter reports a statement it cannot
    analyse: the reviewer must check it by hand."""
    from expandcontract.lint.ir import K, Op, Statement
    from expandcontract.lint.rules.unanalysed_statement import RULE

    op = Op(K.UNKNOWN, detail={"reason": f"not read statically: {unread.reason}"})
    message = RULE.check(op, Statement("", unread.line, 1, [op]), None)  # type: ignore[arg-type]
    return Finding(
        path, unread.line, 1, RULE.id, RULE.severity, message or unread.reason, RULE.suggestion
    )


def _skipped(path: str, reason: str) -> FileReport:
    return FileReport(path, status="skipped", reason=reason)


def _refused(path: str, line: int, message: str, hint: str) -> Finding:
    """An operation `alembic upgrade` would refuse under ec.safe_ops (the revision stops
    there, nothing of it stays): reported like an ec migration that `ec plan` refuses."""
    from expandcontract.lint.rules.invalid_migration import RULE

    return Finding(path, line, 1, RULE.id, RULE.severity, f"ec.safe_ops: {message}", hint)
