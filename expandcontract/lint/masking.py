"""Mask template placeholders (``{{ … }}``, ``${…}``) so templated migrations still parse.

Every placeholder becomes an identifier of exactly the same length, so every offset, line and
column computed on the masked text is also right for the original file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# {{ go template }}, ${shell}, and psql variables (:name, :'name', :"name"; not a :: cast)
_PLACEHOLDER = re.compile(
    r"\{\{.*?\}\}|\$\{[^}\n]*\}|(?<![:\w\]\)]):(?:'\w+'|\"\w+\"|[A-Za-z_]\w*)(?![:(])",
    re.DOTALL,
)


def is_placeholder(word: str) -> bool:
    """A name ``mask_templates`` made (``_tpl3___…``, or underscores for a short one)."""
    return word.startswith("_tpl") or (len(word) > 1 and not word.strip("_"))


@dataclass(frozen=True)
class Masked:
    text: str
    # masked identifier -> original placeholder text, to restore names in messages
    originals: dict[str, str] = field(default_factory=dict)

    def unmask(self, message: str) -> str:
        for masked, original in self.originals.items():
            if masked in message:
                message = message.replace(masked, original)
        return message


def mask_templates(text: str) -> Masked:
    if "{{" not in text and "${" not in text and ":" not in text:
        return Masked(text)
    originals: dict[str, str] = {}
    names: dict[str, str] = {}  # one name per distinct placeholder: {{ .NS }}.t is one table

    def replace(match: re.Match[str]) -> str:
        original = match.group(0)
        newlines = original.count("\n")
        width = len(original) - newlines
        if original not in names:
            number = len(names) + 1
            names[original] = f"_tpl{number}_".ljust(width, "_")[:width] if width >= 3 else ""
        name = names[original] or "_" * width
        if name.startswith("_tpl") and name.rstrip("_") != "_tpl":
            originals[name] = original
        # keep newlines at the end so line numbers of later text stay exact
        return name + "\n" * newlines

    return Masked(_PLACEHOLDER.sub(replace, text), originals)
