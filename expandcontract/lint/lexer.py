"""A small PostgreSQL lexer for the fast path: one compiled regular expression, no sqlglot.

It knows exactly the lexical rules that decide where a statement ends — strings, E-strings,
quoted identifiers, dollar quotes, comments — and gives up (``LexError``) on anything it is not
sure to read the way sqlglot's tokenizer does (nested block comments, backslashes in plain
strings, ``U&`` strings, ``BEGIN ATOMIC`` bodies, unterminated quotes). Giving up is cheap: the
file then goes through the sqlglot splitter as before, so the two can never disagree silently.
"""

from __future__ import annotations

import re
from typing import Final

WORD, QUOTED, STRING, DOLLAR, NUMBER, OP = "word", "quoted", "string", "dollar", "number", "op"
PUNCT = "punct"  # ( ) , ; . [ ] :

# Names: Unicode letters, digits, underscore (and $ after the first character). PostgreSQL also
# allows other non-ASCII characters; those reach ``bad`` and the sqlglot splitter. The ASCII
# branch first is what makes matching fast; small classes keep compiling cheap (every cold run
# compiles this pattern).
_WORD = r"[A-Za-z_][A-Za-z0-9_$]*(?:[^\W\d][\w$]*)?|[^\W\d][\w$]*"
_TAG = r"[^\W\d]\w*"
# Whitespace and comments are skipped by the same match as the token after them (half the
# matches, and the Python loop over matches is most of the lexer's time). Every position
# after them matches some alternative (``bad`` or the end), so finditer never skips text.
_TOKEN = re.compile(
    r"(?:\s+|--[^\n\r]*|/\*(?:[^*/]|\*(?!/)|/(?!\*))*\*/)*"  # a -- comment ends at CR too
    r"(?:(?P<estring>[Ee]'(?:[^'\\]|\\.|'')*')"
    r"|(?P<other_string>[BbXxNn]'[^'\\]*')"
    rf"|(?P<unicode>[Uu]&['\"])"
    rf"|(?P<word>{_WORD})"
    r"|(?P<quoted>\"(?:[^\"]|\"\")*\")"
    r"|(?P<string>'(?:[^']|'')*')"
    rf"|(?P<dollar>\$\$(?P<body1>.*?)\$\$|\$(?P<tag>{_TAG})\$(?P<body2>.*?)\$(?P=tag)\$)"
    r"|(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<param>\$\d+)"
    r"|(?P<op>::|:=|(?:[+*<>=~!@#%^&|`?]|-(?!-)|/(?!\*))+)"
    r"|(?P<punct>[(),;.\[\]:])"
    r"|(?P<bad>\S)"
    r"|\Z)",  # only whitespace or comments were left
    re.DOTALL,
)


class LexError(Exception):
    """The text uses something the fast lexer does not read; use the sqlglot splitter."""


# A token: (kind, text, start, end, up). ``text`` is the word as written, a string's or dollar
# quote's content, or the operator/punctuation itself; ``up`` is what statement shapes compare:
# the upper-cased word, the operator or punctuation, and '' for literals and quoted names (so a
# string 'ADD' never reads as the keyword); ``start``/``end`` are offsets in the lexed text (end
# exclusive). A plain tuple, read by index: the lexer makes ~100 per statement, and a tuple is
# built in C (a class instance costs a third of the lexer's time).
Tok = tuple[str, str, int, int, str]
KIND: Final = 0
TEXT: Final = 1
START: Final = 2
END: Final = 3
UP: Final = 4


def token(kind: str, text: str, start: int, end: int) -> Tok:
    """A token made outside the lexer (tests, sqlglot tokens): ``up`` from kind and text."""
    up = text.upper() if kind == WORD else text if kind in (PUNCT, OP) else ""
    return (kind, text, start, end, up)


_GROUP = _TOKEN.groupindex
_WORD_G, _PUNCT_G, _OP_G = _GROUP["word"], _GROUP["punct"], _GROUP["op"]
_STRING_G, _NUMBER_G, _QUOTED_G = _GROUP["string"], _GROUP["number"], _GROUP["quoted"]
_DOLLAR_G, _PARAM_G = _GROUP["dollar"], _GROUP["param"]


def lex_statements(text: str, *, split: bool = True) -> list[list[Tok]]:
    """The statements of ``text``: token lists between top-level semicolons, without
    whitespace and comments (``split=False``: one list, semicolons kept); LexError when unsure.
    One pass: this loop is most of what a cold lint run spends outside the rules."""
    statements: list[list[Tok]] = []
    tokens: list[Tok] = []
    append = tokens.append
    previous = ""
    for match in _TOKEN.finditer(text):
        group = match.lastindex  # by number: cheaper than by name, ~100 times per statement
        if group is None:  # the end: only whitespace or comments were left
            continue
        start, end = match.span(group)
        token = text[start:end]
        if group == _WORD_G:
            up = token.upper()
            if split and up == "ATOMIC" and previous == "BEGIN":
                raise LexError("BEGIN ATOMIC body")  # its semicolons do not end the statement
            append((WORD, token, start, end, up))
            previous = up
            continue
        previous = ""
        if group == _PUNCT_G:
            if split and token == ";":
                if tokens:
                    statements.append(tokens)
                    tokens = []
                    append = tokens.append
                continue
            append((PUNCT, token, start, end, token))
        elif group in (_OP_G, _PARAM_G):
            append((OP, token, start, end, token))
        elif group == _STRING_G:
            if "\\" in token:  # sqlglot reads backslashes as escapes, PostgreSQL does not
                raise LexError("backslash in a string")
            append((STRING, token[1:-1].replace("''", "'"), start, end, ""))
        elif group == _NUMBER_G:
            append((NUMBER, token, start, end, ""))
        elif group == _QUOTED_G:
            append((QUOTED, token[1:-1].replace('""', '"'), start, end, ""))
        elif group == _DOLLAR_G:
            body = match.group("body1")
            if body is None:
                body = match.group("body2")
            append((DOLLAR, body, start, end, ""))
        else:  # E-strings, bit strings, U& strings, anything unexpected
            raise LexError(f"{match.lastgroup} at offset {start}")
    if tokens:
        statements.append(tokens)
    return statements


def lex(text: str) -> list[Tok]:
    """All tokens of ``text``, semicolons included; LexError when unsure."""
    found = lex_statements(text, split=False)
    return found[0] if found else []
