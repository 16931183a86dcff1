"""Lint settings: what to report and for which server. Hashable, so it keys the cache."""

from __future__ import annotations

from dataclasses import dataclass, field

SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True)
class LintSettings:
    pg_version: int = 15
    assume_in_transaction: bool = False
    select: frozenset[str] = field(default_factory=frozenset)  # empty = rules on by default
    ignore: frozenset[str] = field(default_factory=frozenset)
    fail_on: str = "warning"  # lowest severity that makes `ec lint` exit 1

    def fingerprint(self) -> str:
        return (
            f"pg{self.pg_version}|tx{int(self.assume_in_transaction)}|"
            f"s{','.join(sorted(self.select))}|i{','.join(sorted(self.ignore))}"
        )


def at_least(severity: str, level: str) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(level)
