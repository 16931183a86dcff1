"""The verdict: a table phase x version, and every failure in plain words.

JSON (``ec verify --json``)::

    {"compatible": false,
     "migration": "0002_x", "server": "embedded", "rows": 200, "seed": 0, "seconds": 3.1,
     "phases": ["before expand", ...],
     "checks": [{"phase": "after expand", "version": "old", "kind": "dynamic", "ok": false,
                 "detail": "...", "statement": "INSERT INTO ..." | null}, ...]}
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.console import Console
from rich.table import Table

KINDS = ("static", "dynamic", "invariants", "user", "migration")
MAX_FAILURES_PER_CELL = 5


@dataclasses.dataclass(frozen=True)
class Check:
    phase: str
    version: str  # old | new | migration
    kind: str  # static | dynamic | invariants | user | migration
    ok: bool
    detail: str
    statement: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def describe(self) -> str:
        """One failure for people: the generated row PostgreSQL echoes is noise there (the JSON
        keeps it)."""
        where = f"{self.phase} / {self.version} / {self.kind}"
        detail = self.detail.split(" (Failing row contains", maxsplit=1)[0]
        text = f"{where}: {detail}"
        if self.statement:
            text += f"\n    statement: {self.statement}"
        return text


@dataclasses.dataclass
class Report:
    migration: str
    checks: list[Check] = dataclasses.field(default_factory=list)
    phases: list[str] = dataclasses.field(default_factory=list)
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def compatible(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def add(self, check: Check) -> None:
        if check.phase not in self.phases:
            self.phases.append(check.phase)
        self.checks.append(check)

    def passed(self, phase: str, version: str, kind: str, detail: str) -> None:
        self.add(Check(phase, version, kind, True, detail))

    def failed(
        self, phase: str, version: str, kind: str, detail: str, statement: str | None = None
    ) -> None:
        self.add(Check(phase, version, kind, False, detail, statement))

    def to_json(self) -> dict[str, Any]:
        return {
            "compatible": self.compatible,
            "migration": self.migration,
            **self.meta,
            "phases": self.phases,
            "checks": [c.to_json() for c in self.checks],
        }

    def cell(self, phase: str, version: str, kind: str) -> str:
        found = [
            c for c in self.checks if c.phase == phase and c.version == version and c.kind == kind
        ]
        if not found:
            return "-"
        failed = sum(not c.ok for c in found)
        return f"FAIL ({failed})" if failed else "pass"

    def text(self) -> str:
        """Plain text (pytest failure messages, logs)."""
        verdict = "compatible" if self.compatible else "NOT compatible"
        lines = [f"ec verify {self.migration}: {verdict}"]
        for phase in self.phases:
            for version in ("old", "new", "migration"):
                cells = {k: self.cell(phase, version, k) for k in KINDS}
                if all(v == "-" for v in cells.values()):
                    continue
                shown = ", ".join(f"{k} {v}" for k, v in cells.items() if v != "-")
                lines.append(f"  {phase:<18} {version:<9} {shown}")
        if self.failures:
            lines.append("failures:")
            lines += [f"  - {c.describe()}" for c in self.failures]
        return "\n".join(lines)

    def render(self, console: Console) -> None:
        table = Table("phase", "version", *KINDS[:4], title=f"ec verify {self.migration}")
        meta = self.meta
        if meta:
            console.print(
                f"server {meta.get('server')}, {meta.get('rows')} seed rows per table, "
                f"seed {meta.get('seed')}, {meta.get('seconds')} s"
            )
        for phase in self.phases:
            for version in ("old", "new"):
                cells = [self.cell(phase, version, k) for k in KINDS[:4]]
                if all(v == "-" for v in cells):
                    continue
                table.add_row(phase, version, *[_style(v) for v in cells])
        console.print(table)
        migration_failures = [c for c in self.failures if c.kind == "migration"]
        for check in migration_failures:
            console.print(f"[red]migration failed[/] at {check.phase}: {check.detail}", markup=True)
        shown: dict[tuple[str, str, str], int] = {}
        for check in self.failures:
            if check.kind == "migration":
                continue
            key = (check.phase, check.version, check.kind)
            shown[key] = shown.get(key, 0) + 1
            if shown[key] > MAX_FAILURES_PER_CELL:
                continue
            console.print(f"[red]FAIL[/] {check.describe()}", markup=True, highlight=False)
        hidden = sum(max(0, n - MAX_FAILURES_PER_CELL) for n in shown.values())
        if hidden:
            console.print(f"... and {hidden} more failure(s) (--json lists them all)")
        verdict = "[green]compatible[/]" if self.compatible else "[red]NOT compatible[/]"
        console.print(f"verdict: {verdict}", markup=True)


def _style(value: str) -> str:
    if value.startswith("FAIL"):
        return f"[red]{value}[/]"
    return f"[green]{value}[/]" if value == "pass" else value
