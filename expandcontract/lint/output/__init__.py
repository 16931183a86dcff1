"""Reporters: text, json, sarif, github (workflow annotations), gitlab (Code Quality)."""

from __future__ import annotations

from expandcontract.lint.findings import FileReport
from expandcontract.lint.output.formats import github, gitlab, json_report, sarif, text

FORMATS = ("text", "json", "sarif", "github", "gitlab")


def render(reports: list[FileReport], fmt: str) -> str:
    renderers = {
        "text": text,
        "json": json_report,
        "sarif": sarif,
        "github": github,
        "gitlab": gitlab,
    }
    return renderers[fmt](reports)
