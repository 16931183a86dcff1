from __future__ import annotations

from expandcontract.lint.engine import lint_sql
from expandcontract.lint.findings import Finding
from expandcontract.lint.settings import LintSettings


def lint(sql: str, *, pg: int = 15, tx: bool = False, phase: str = "") -> list[Finding]:
    settings = LintSettings(pg_version=pg, assume_in_transaction=tx)
    return lint_sql(sql, "m.sql", settings, phase=phase).findings


def rules(sql: str, **kwargs: object) -> set[str]:
    return {f.rule for f in lint(sql, **kwargs)}  # type: ignore[arg-type]


def ec_file_rules(text: str) -> set[str]:
    """The rules reported on an ec migration file with this text (read from memory)."""
    from expandcontract.lint.sources import lint_ec_file

    report = lint_ec_file("0001_example.yaml", LintSettings(), content=text.encode())
    return {f.rule for f in report.findings}
