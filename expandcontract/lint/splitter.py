"""Split a SQL file into statements, with exact 1-based positions.

sqlglot's tokenizer reads the file once; it understands dollar quotes, nested block comments,
E-strings and quoted identifiers, so a ``;`` inside any of them never splits. What it does not
know is handled here: psql meta-commands (blanked out, offsets kept) and SQL-standard
``BEGIN ATOMIC … END`` bodies.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from sqlglot.errors import TokenError
from sqlglot.tokenizer_core import Token, TokenType

from expandcontract.lint.dialect import tokenize

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_ATOMIC = re.compile(r"\batomic\b", re.IGNORECASE)  # BEGIN ATOMIC bodies: split with care
_DIRECTIVE = re.compile(r"--\s*(ec:[a-z-]+)[ \t]*([^\n]*)")
# `ec plan --format sql` section markers ("-- ==== contract ===="): the phase of what follows
SECTIONS = ("expand", "backfill", "switch", "contract", "rollback")
_SECTION = re.compile(r"^[ \t]*--[ \t]*={3,}[ \t]*([A-Za-z]+)[ \t]*={3,}[ \t]*$", re.MULTILINE)


class LineIndex:
    """Offset -> (line, column), both 1-based."""

    def __init__(self, text: str) -> None:
        self.starts = [0]
        at = text.find("\n")
        while at != -1:
            self.starts.append(at + 1)
            at = text.find("\n", at + 1)

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1


@dataclass
class RawStatement:
    text: str
    start: int
    end: int
    line: int
    column: int
    tokens: list[Token]  # sqlglot tokens, offsets in the file
    directives: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class SplitResult:
    statements: list[RawStatement]
    file_directives: list[tuple[str, str]]
    error: str | None = None
    index: LineIndex | None = None  # positions in the split text, reusable by callers


def strip_meta_commands(text: str) -> str:
    """Blank psql meta-command lines (``\\set``, ``\\i`` …) outside dollar quotes."""
    if "\\" not in text:
        return text
    out: list[str] = []
    open_tag: str | None = None
    for line in text.splitlines(keepends=True):
        if open_tag is None and line.lstrip().startswith("\\"):
            body = line.rstrip("\r\n")
            out.append(" " * len(body) + line[len(body) :])
            continue
        for match in _DOLLAR.finditer(line):
            if open_tag is None:
                open_tag = match.group(0)
            elif match.group(0) == open_tag:
                open_tag = None
        out.append(line)
    return "".join(out)


def _directives(gap: str) -> list[tuple[str, str]]:
    if "ec:" not in gap:  # nearly every gap: skip the regex
        return []
    return [(m.group(1), m.group(2).strip()) for m in _DIRECTIVE.finditer(gap)]


def _section(gap: str) -> list[tuple[str, str]]:
    """The last section marker in the gap before a statement, as an ``ec:section`` directive."""
    if "===" not in gap:
        return []
    found = [name.lower() for name in _SECTION.findall(gap) if name.lower() in SECTIONS]
    return [("ec:section", found[-1])] if found else []


def _split_tokens(tokens: list[Token], atomic_bodies: bool) -> list[list[Token]]:
    groups: list[list[Token]] = []
    if not atomic_bodies:  # nearly every file: split at each ";"
        begin = 0
        semicolon = TokenType.SEMICOLON
        for i, token in enumerate(tokens):
            if token.token_type == semicolon:
                if i > begin:
                    groups.append(tokens[begin:i])
                begin = i + 1
        if begin < len(tokens):
            groups.append(tokens[begin:])
        return groups
    current: list[Token] = []
    atomic = 0  # nesting inside BEGIN ATOMIC … END (CASE … END nests too)
    for i, token in enumerate(tokens):
        word = token.text.upper()
        if atomic:
            if word == "CASE":
                atomic += 1
            elif word == "END":
                atomic -= 1
        elif word == "BEGIN" and i + 1 < len(tokens) and tokens[i + 1].text.upper() == "ATOMIC":
            atomic = 1
        if token.token_type == TokenType.SEMICOLON and not atomic:
            if current:
                groups.append(current)
            current = []
            continue
        current.append(token)
    if current:
        groups.append(current)
    return groups


def split_sql(text: str) -> SplitResult:
    """Statements of ``text`` (already template-masked) with positions and directives."""
    clean = strip_meta_commands(text)
    index = LineIndex(clean)
    try:
        tokens = tokenize(clean)
    except TokenError as exc:
        line, column = index.position(len(clean) - len(clean.lstrip()))
        whole = RawStatement(clean.strip(), 0, len(clean), line, column, [])
        return SplitResult([whole], _directives(clean), f"cannot tokenize: {exc}", index)
    atomic = _ATOMIC.search(clean) is not None
    groups = [(g[0].start, g[-1].end + 1, g) for g in _split_tokens(tokens, atomic)]
    statements: list[RawStatement] = []
    file_directives: list[tuple[str, str]] = []
    prev_end = 0
    for start, end, group in groups:
        gap = clean[prev_end:start]
        pending: list[tuple[str, str]] = []
        if "ec:" in gap:  # rare: most gaps are a newline
            gap_directives = _directives(gap)
            for name, arg in gap_directives:
                if name in ("ec:ignore-file", "ec:phase", "ec:assume-in-transaction"):
                    file_directives.append((name, arg))
            pending = [d for d in gap_directives if d[0] == "ec:ignore"]
            first_gap_newline = gap.find("\n")
            if statements and first_gap_newline != -1:
                # "stmt; -- ec:ignore x" on the same line belongs to the previous statement
                trailing = _directives(gap[:first_gap_newline])
                statements[-1].directives.extend(d for d in trailing if d[0] == "ec:ignore")
                after = _directives(gap[first_gap_newline:])
                pending = [d for d in after if d[0] == "ec:ignore"]
        line, column = index.position(start)
        stmt = RawStatement(clean[start:end], start, end, line, column, group, pending)
        if "ec:" in stmt.text:
            stmt.directives.extend(d for d in _directives(stmt.text) if d[0] == "ec:ignore")
        if "===" in gap:
            stmt.directives.extend(_section(gap))
        statements.append(stmt)
        prev_end = end
    tail = clean[prev_end:]
    for name, arg in _directives(tail):
        if name in ("ec:ignore-file", "ec:phase", "ec:assume-in-transaction"):
            file_directives.append((name, arg))
        elif name == "ec:ignore" and statements and "\n" not in tail.split("--", 1)[0]:
            statements[-1].directives.append((name, arg))
    return SplitResult(statements, file_directives, index=index)
