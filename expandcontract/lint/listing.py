"""``ec lint --list-rules``."""

from __future__ import annotations

import json

from expandcontract.lint.registry import all_rules


def list_rules_output(fmt: str) -> str:
    rules = all_rules()
    if fmt == "json":
        return json.dumps(
            [
                {
                    "id": r.id,
                    "severity": r.severity,
                    "summary": r.summary,
                    "equivalents": r.equivalents,
                }
                for r in rules
            ],
            indent=2,
        )
    width = max(len(r.id) for r in rules)
    return "\n".join(f"{r.id:<{width}}  {r.severity:<7}  {r.summary}" for r in rules)
