"""What the linter reports, per finding and per file. Plain data, JSON-ready."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Finding:
    path: str
    line: int
    column: int
    rule: str
    severity: str
    message: str
    suggestion: str

    def to_dict(self) -> dict[str, Any]:
        # explicit, not dataclasses.asdict: this runs for every finding of every file
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "suggestion": self.suggestion,
        }


@dataclass
class FileReport:
    path: str
    statements: int = 0
    status: str = "ok"  # ok | unparsed
    reason: str | None = None
    findings: list[Finding] = field(default_factory=list)
    # facts for checks across files (not part of the JSON output)
    phase: str = ""
    backfills: list[str] = field(default_factory=list)  # tables whose rows this file updates
    contracts: dict[str, int] = field(default_factory=dict)  # table -> line of contract DDL

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "path": self.path,
            "statements": self.statements,
            "status": self.status,
        }
        if self.reason:
            data["reason"] = self.reason
        return data

    def severities(self) -> set[str]:
        return {f.severity for f in self.findings}

    def to_cache(self) -> dict[str, Any]:
        """The cache form. ``findings`` is the JSON text of the findings as ``json.dumps``
        writes them inside a list, so a warm ``--format json`` run copies one string per file
        instead of building and re-encoding thousands of objects."""
        return {
            **self.to_dict(),
            # one dumps call per file (same text as joining per-finding dumps with ", ")
            "findings": json.dumps([f.to_dict() for f in self.findings])[1:-1],
            "severities": sorted(self.severities()),
            "phase": self.phase,
            "backfills": self.backfills,
            "contracts": self.contracts,
        }

    @staticmethod
    def from_cache(data: dict[str, Any], path: str) -> FileReport:
        return CachedReport(data, path)


class CachedReport(FileReport):
    """A report served from the cache. Its findings become objects only when something reads
    them; until then ``json_findings`` gives their JSON text."""

    def __init__(self, data: dict[str, Any], path: str) -> None:
        self.path = path
        self.statements = data["statements"]
        self.status = data["status"]
        self.reason = data.get("reason")
        self.phase = data.get("phase", "")
        self.backfills = data.get("backfills", [])
        self.contracts = data.get("contracts", {})
        self._data = data  # its "path" is the file the result was cached for

    def __getattr__(self, name: str) -> Any:
        if name != "findings":
            raise AttributeError(name)
        rows = json.loads("[" + self._data["findings"] + "]")
        findings = [Finding(**{**row, "path": self.path}) for row in rows]
        self.findings = findings
        return findings

    def to_cache(self) -> dict[str, Any]:
        if "findings" in self.__dict__ or self._data["path"] != self.path:
            return super().to_cache()
        return self._data

    def severities(self) -> set[str]:
        if "findings" in self.__dict__:
            return super().severities()
        return set(self._data["severities"])

    def json_findings(self) -> str | None:
        """The findings as ``json.dumps`` writes them inside a list; None once they were read
        as objects (and may have changed since)."""
        if "findings" in self.__dict__:
            return None
        if self._data["path"] != self.path:  # same content cached under another path
            return ", ".join(json.dumps(f.to_dict()) for f in self.findings)
        return str(self._data["findings"])
