"""Checks across the files of one migration folder or Alembic project, in run order:
a contract migration that runs before the backfill of a table it contracts."""

from __future__ import annotations

from itertools import groupby
from pathlib import Path

from expandcontract.lint.findings import FileReport, Finding
from expandcontract.lint.registry import is_active
from expandcontract.lint.settings import LintSettings


def _finding(contract: FileReport, later: FileReport, table: str) -> Finding:
    from expandcontract.lint.rules.contract_before_backfill import RULE

    message = (
        f"this contract migration runs before {Path(later.path).name}, which still backfills "
        f"{table}: contract must wait until that backfill is done"
    )
    line = contract.contracts[table]
    return Finding(contract.path, line, 1, RULE.id, RULE.severity, message, RULE.suggestion)


def check_order(reports: list[FileReport], settings: LintSettings) -> None:
    """Add contract-before-backfill findings; ``reports`` are in run order per folder."""
    if not any(r.phase == "contract" for r in reports):
        return  # the usual case; spares loading the rule machinery on a warm run
    from expandcontract.lint.rules.contract_before_backfill import RULE

    if not is_active(RULE, settings):
        return
    for _, group in groupby(reports, key=lambda r: str(Path(r.path).parent)):
        ordered = list(group)
        for i, contract in enumerate(ordered):
            if contract.phase != "contract":
                continue
            for later in ordered[i + 1 :]:
                for table in sorted(set(contract.contracts) & set(later.backfills)):
                    contract.findings.append(_finding(contract, later, table))
