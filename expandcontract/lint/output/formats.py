"""The output formats. JSON is a documented, stable schema (docs/lint/index.md)."""

from __future__ import annotations

import json
from typing import Any

from expandcontract import __version__
from expandcontract.lint.findings import CachedReport, FileReport, Finding

_DOCS = "https://github.com/expandcontract/expandcontract/blob/main/docs/lint/rules/{}.md"


def _findings(reports: list[FileReport]) -> list[Finding]:
    return [f for r in reports for f in r.findings]


def json_report(reports: list[FileReport]) -> str:
    """``json.dumps({"findings": [...], "files": [...]})``, byte for byte; findings served
    from the cache are copied as the JSON text they were stored as."""
    parts: list[str] = []
    for report in reports:
        cached = report.json_findings() if isinstance(report, CachedReport) else None
        if cached is None:
            parts.extend(json.dumps(f.to_dict()) for f in report.findings)
        elif cached:
            parts.append(cached)
    files = json.dumps([r.to_dict() for r in reports])
    return '{"findings": [' + ", ".join(parts) + '], "files": ' + files + "}"


def text(reports: list[FileReport]) -> str:
    lines: list[str] = []
    for f in _findings(reports):
        lines.append(f"{f.path}:{f.line}:{f.column}: {f.severity} [{f.rule}] {f.message}")
        lines.append(f"    fix: {f.suggestion}")
    for r in reports:
        if r.status != "ok":
            lines.append(f"{r.path}: {r.status}: {r.reason}")
    counts = {s: sum(f.severity == s for f in _findings(reports)) for s in ("error", "warning")}
    lines.append(
        f"{len(reports)} file(s), {sum(r.statements for r in reports)} statement(s): "
        f"{counts['error']} error(s), {counts['warning']} warning(s)"
    )
    return "\n".join(lines)


def _escape(value: str, *, prop: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return value.replace(":", "%3A").replace(",", "%2C") if prop else value


def github(reports: list[FileReport]) -> str:
    level = {"error": "error", "warning": "warning", "info": "notice"}
    out = []
    for f in _findings(reports):
        props = f"file={_escape(f.path, prop=True)},line={f.line},col={f.column},"
        props += f"title={_escape('ec lint ' + f.rule, prop=True)}"
        out.append(f"::{level[f.severity]} {props}::{_escape(f.message + ' Fix: ' + f.suggestion)}")
    return "\n".join(out)


def _fingerprint(f: Finding) -> str:
    import hashlib  # only the SARIF and GitLab formats need it

    return hashlib.sha256(f"{f.path}|{f.line}|{f.rule}|{f.message}".encode()).hexdigest()


def gitlab(reports: list[FileReport]) -> str:
    severity = {"error": "major", "warning": "minor", "info": "info"}
    data = [
        {
            "description": f"{f.rule}: {f.message}",
            "check_name": f.rule,
            "fingerprint": _fingerprint(f),
            "severity": severity[f.severity],
            "location": {"path": f.path, "lines": {"begin": f.line}},
        }
        for f in _findings(reports)
    ]
    return json.dumps(data, indent=2)


def sarif(reports: list[FileReport]) -> str:
    from expandcontract.lint.registry import all_rules

    rules = all_rules()
    index = {r.id: i for i, r in enumerate(rules)}
    level = {"error": "error", "warning": "warning", "info": "note"}
    driver: dict[str, Any] = {
        "name": "ec lint",
        "version": __version__,
        "informationUri": "https://github.com/expandcontract/expandcontract",
        "rules": [
            {
                "id": r.id,
                "name": r.id,
                "shortDescription": {"text": r.summary},
                "fullDescription": {"text": r.why},
                "help": {"text": r.suggestion},
                "helpUri": _DOCS.format(r.id),
                "defaultConfiguration": {"level": level[r.severity]},
            }
            for r in rules
        ],
    }
    results = [
        {
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": level[f.severity],
            "message": {"text": f"{f.message}. Fix: {f.suggestion}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.path.replace("\\", "/")},
                        "region": {"startLine": f.line, "startColumn": f.column},
                    }
                }
            ],
            "partialFingerprints": {"ecLint/v1": _fingerprint(f)},
        }
        for f in _findings(reports)
    ]
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "results": results}],
    }
    return json.dumps(log, indent=2)
