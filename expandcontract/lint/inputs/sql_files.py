"""Plain and tool-flavoured ``.sql`` migration files, linted as their tool runs them.

The tool (conventions.py) decides whether each part of the file runs in a transaction; an
explicit down migration (a ``down.sql``, ``*.down.sql``, Flyway ``U…__`` or Sqitch ``revert/``
file, or a dbmate/goose down section) is linted in the ``rollback`` phase. Parts are linted
with the rest of the file blanked, so positions stay exact.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path, PurePath

from expandcontract.lint.findings import FileReport
from expandcontract.lint.inputs import conventions as conv
from expandcontract.lint.inputs.conventions import AUTO, Part, is_down_file
from expandcontract.lint.settings import LintSettings

__all__ = ["SqlSource", "is_down_file", "lint_file", "lint_text", "prepare"]


@dataclass(frozen=True)
class SqlSource:
    text: str
    assume_in_transaction: bool | None  # None: use the configured default


def prepare(path: Path, text: str, tool: str = AUTO) -> SqlSource:
    """The first part of ``path`` to lint and whether its tool wraps it in a transaction
    (``one-query`` files count as wrapped: most hold several statements)."""
    part = conv.detect(PurePath(path), text, tool).parts[0]
    assume = None if not part.mode else part.mode in (conv.TOOL, conv.ONE_QUERY)
    return SqlSource(part.text, assume)


def _lint(
    part: Part, path: str, settings: LintSettings, assume: bool | None, *, one_query: bool = False
) -> FileReport:
    from expandcontract.lint.engine import lint_sql

    if assume is not None and assume != settings.assume_in_transaction:
        settings = dataclasses.replace(settings, assume_in_transaction=assume)
    return lint_sql(part.text, path, settings, phase=part.phase, one_query=one_query)


def _lint_part(part: Part, path: str, settings: LintSettings) -> FileReport:
    mode = part.mode
    if not mode:
        return _lint(part, path, settings, None)
    if mode in (conv.PER_STATEMENT, conv.AS_WRITTEN):
        return _lint(part, path, settings, False)
    if mode == conv.ONE_QUERY:
        if conv.opens_own_transaction(part.text):
            return _lint(part, path, settings, False)  # its own BEGIN/COMMIT: linted as written
        # PostgreSQL runs a one-statement Query outside any transaction block
        return _lint(part, path, settings, None, one_query=True)
    report = _lint(part, path, settings, True)
    # Flyway runs a script of only non-transactional statements without a transaction
    if part.auto_non_transactional and conv.flyway_auto_non_transactional(
        part.text, report.statements, settings.pg_version
    ):
        return _lint(part, path, settings, False)
    return report


def lint_text(
    text: str, path: str, settings: LintSettings, tool: str = AUTO, *, where: str | None = None
) -> FileReport:
    """Lint ``text`` as the migration tool runs the file at ``where`` (default ``path``)."""
    detected = conv.detect(PurePath(where or path), text, tool)
    reports = [(part, _lint_part(part, path, settings)) for part in detected.parts]
    if not reports:  # a goose/dbmate file whose markers cut nothing out
        return _lint_part(Part(text, "", ""), path, settings)
    first = reports[0][1]
    if len(reports) == 1:
        return first
    merged = FileReport(path, phase=first.phase, backfills=first.backfills)
    merged.contracts = first.contracts
    for part, report in reports:
        merged.statements += report.statements
        if report.status != "ok" and merged.status == "ok":
            merged.status, merged.reason = report.status, report.reason
        for finding in report.findings:
            if part.section:  # the path does not say it: the message does
                finding.message = f"(down) {finding.message}"
            merged.findings.append(finding)
    merged.findings.sort(key=lambda f: (f.line, f.column, f.rule))
    return merged


def read_text(path: str, content: bytes | None) -> str:
    if content is None:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    # as read_text does: universal newlines, so offsets and lines are the same either way
    text = content.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def lint_file(
    path: str, settings: LintSettings, content: bytes | None = None, tool: str = AUTO
) -> FileReport:
    return lint_text(read_text(path, content), path, settings, tool)
