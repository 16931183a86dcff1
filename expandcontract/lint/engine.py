"""Lint SQL text: split, analyse each statement into the IR, run the rules in order with a
stateful context, apply suppressions. The library entry point is ``lint_sql``."""

from __future__ import annotations

from expandcontract.lint.analyse import analyse_statement
from expandcontract.lint.context import Context
from expandcontract.lint.findings import FileReport, Finding
from expandcontract.lint.ir import Statement
from expandcontract.lint.masking import mask_templates
from expandcontract.lint.registry import active_rules, finishers, rule_dispatch
from expandcontract.lint.replacements import mark_replacements
from expandcontract.lint.settings import LintSettings
from expandcontract.lint.splitter import LineIndex, split_sql

_OFF = ("off", "false", "no", "0")
# phases in which ec guarantees that no code of the old version runs any more
_OLD_CODE_GONE = ("contract", "rollback")


def lint_sql(
    text: str,
    path: str = "<sql>",
    settings: LintSettings | None = None,
    *,
    phase: str = "",
    one_query: bool = False,
) -> FileReport:
    """``one_query``: the tool sends the whole text as one simple-protocol query, which
    PostgreSQL runs as one implicit transaction when it holds two statements or more."""
    settings = settings or LintSettings()
    masked = mask_templates(text)
    split = split_sql(masked.text)
    index = split.index or LineIndex(masked.text)
    report = FileReport(path, statements=len(split.statements))
    if split.error:
        report.status, report.reason = "unparsed", split.error
    file_ignores: set[str] = set()
    assume = len(split.statements) > 1 if one_query else settings.assume_in_transaction
    for name, arg in split.file_directives:
        if name == "ec:ignore-file":
            file_ignores.update(r for r in (arg.split()[0] if arg else "ALL").split(",") if r)
        elif name == "ec:phase" and arg:
            phase = arg.split()[0].lower()
        elif name == "ec:assume-in-transaction":
            assume = arg.split()[0].lower() not in _OFF if arg else True
    ctx = Context(settings, assume, phase=phase)
    rules = active_rules(settings)
    live, gone = rule_dispatch(settings)
    statements = [analyse_statement(raw, masked.text, index) for raw in split.statements]
    mark_replacements(statements, assume)
    raw_findings: list[tuple[Statement, Finding]] = []
    for raw, stmt in zip(split.statements, statements, strict=True):
        for name, arg in raw.directives:
            if name == "ec:section":  # `ec plan --format sql`: expand, contract, rollback …
                ctx.phase = arg
        dispatch = gone if ctx.phase in _OLD_CODE_GONE else live
        for op in stmt.ops:
            for rule in dispatch[op.kind]:
                message = rule.check(op, stmt, ctx)
                if message:
                    finding = Finding(
                        path,
                        op.line or stmt.line,
                        op.col or stmt.column,
                        rule.id,
                        getattr(message, "severity", rule.severity),  # graded by table size
                        masked.unmask(message) if masked.originals else message,
                        rule.suggestion,
                    )
                    raw_findings.append((stmt, finding))
            ctx.after(op, stmt)
        ctx.statement_done()
    for rule in finishers(settings):
        if rule.finish is not None:
            for stmt_or_none, message in rule.finish(ctx):
                target = stmt_or_none or (statements[-1] if statements else Statement("", 1, 1))
                raw_findings.append(
                    (
                        target,
                        Finding(
                            path,
                            target.line,
                            target.column,
                            rule.id,
                            rule.severity,
                            message,
                            rule.suggestion,
                        ),
                    )
                )
    unparsed = [s for s in statements if s.unparsed_reason]
    if unparsed and report.status == "ok":
        report.status = "unparsed"
        report.reason = f"line {unparsed[0].line}: {unparsed[0].unparsed_reason}"
    enabled = {r.id for r in rules}
    report.phase = phase  # the file's own phase, not that of its last plan section
    report.backfills = sorted(ctx.backfilled - ctx.created)
    report.contracts = ctx.contracted
    report.findings = _suppress(statements, raw_findings, file_ignores, enabled, path)
    return report


def _suppress(
    statements: list[Statement],
    raw: list[tuple[Statement, Finding]],
    file_ignores: set[str],
    enabled: set[str],
    path: str,
) -> list[Finding]:
    kept: list[Finding] = []
    used: dict[int, set[str]] = {}
    seen: set[tuple[str, int, int, str]] = set()
    for stmt, finding in raw:
        # a statement-wide finding (no lock_timeout …) once; one per action otherwise
        key = (finding.rule, finding.line, finding.column, finding.message)
        if key in seen:
            continue
        seen.add(key)
        if finding.rule in file_ignores or "ALL" in file_ignores:
            continue
        if finding.rule in stmt.ignores or "ALL" in stmt.ignores:
            used.setdefault(id(stmt), set()).add(finding.rule)
            continue
        kept.append(finding)
    if "unused-ignore" in enabled and not {"unused-ignore", "ALL"} & file_ignores:
        for stmt in statements:
            unused = stmt.ignores - used.get(id(stmt), set()) - {"ALL", "unused-ignore"}
            if unused:
                kept.append(
                    Finding(
                        path,
                        stmt.line,
                        stmt.column,
                        "unused-ignore",
                        "info",
                        f"ec:ignore {', '.join(sorted(unused))} suppresses nothing",
                        "Remove the ec:ignore comment.",
                    )
                )
    kept.sort(key=lambda f: (f.line, f.column, f.rule))
    return kept
