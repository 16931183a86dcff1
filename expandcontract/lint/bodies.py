"""Look inside ``DO $$ … $$`` blocks and function bodies for the statements they run.

A DO block runs at migration time, so its DDL and DML are linted like top-level statements. A
function body runs only when called, so only its DDL is reported (a trigger function's INSERT is
normal). ``EXECUTE 'literal'`` is linted; other dynamic SQL in a DO block is reported as
unanalysable (it runs now, and nobody can tell what it does); in a function body it is not
reported: the migration only stores it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot.errors import TokenError
from sqlglot.tokenizer_core import Token, TokenType

from expandcontract.lint.dialect import tokenize
from expandcontract.lint.ir import K, Op

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_DDL = {"ALTER", "CREATE", "DROP", "TRUNCATE", "LOCK", "REINDEX", "VACUUM", "CLUSTER", "REFRESH"}
_DML = {"UPDATE", "DELETE", "INSERT"}
_BLOCK_WORDS = {"BEGIN", "THEN", "ELSE", "LOOP", "DECLARE", "EXCEPTION"}
_NON_SQL_LANGS = {"plpython3u", "plpythonu", "plperl", "plperlu", "plv8", "c", "internal"}

# (statement text, its file offset) -> ops
Analyse = Callable[[str, int], list[Op]]


def find_body(tokens: list[Token], text: str) -> tuple[str, int] | None:
    """(body text, file offset of its first char) of the dollar-quoted body, if any."""
    words = [t.text.lower() for t in tokens]
    if "language" in words:
        lang_at = words.index("language") + 1
        if lang_at < len(words) and words[lang_at] in _NON_SQL_LANGS:
            return None
    for tok in tokens:
        if tok.token_type == TokenType.HEREDOC_STRING:
            match = _DOLLAR.match(text, tok.start)
            start = match.end() if match else tok.start
            return tok.text, start
    return None


def _fragments(tokens: list[Token]) -> list[list[Token]]:
    groups: list[list[Token]] = [[]]
    for tok in tokens:
        if tok.token_type == TokenType.SEMICOLON:
            groups.append([])
        else:
            groups[-1].append(tok)
    return [g for g in groups if g]


def _statement_start(fragment: list[Token], wanted: set[str]) -> int | None:
    for i, tok in enumerate(fragment):
        word = tok.text.upper() if tok.token_type not in _LITERALS else ""
        if (word in wanted or word == "EXECUTE") and (
            i == 0 or fragment[i - 1].text.upper() in _BLOCK_WORDS
        ):
            return i
        if word not in _BLOCK_WORDS and i == 0 and word not in ("IF", "ELSIF", "WHEN", "FOR"):
            return None
    return None


_LITERALS = {TokenType.STRING, TokenType.IDENTIFIER, TokenType.HEREDOC_STRING, TokenType.NUMBER}


def _single_literal(rest: str) -> str | None:
    """The SQL of ``EXECUTE 'literal'``; None for anything dynamic."""
    rest = rest.strip()
    if len(rest) < 2 or rest[0] != "'" or rest[-1] != "'" or "'" in rest[1:-1].replace("''", ""):
        return None
    return rest[1:-1].replace("''", "'")


def body_ops(body: str, offset: int, origin: str, analyse: Analyse) -> list[Op]:
    """Ops of the statements in a PL/pgSQL or SQL body starting at file ``offset``."""
    try:
        tokens = tokenize(body)
    except TokenError:
        return [Op(K.UNKNOWN, detail={"reason": f"cannot tokenize {origin} body"}, origin=origin)]
    wanted = _DDL | _DML if origin == "do-block" else _DDL
    ops: list[Op] = []
    for fragment in _fragments(tokens):
        at = _statement_start(fragment, wanted)
        if at is None:
            continue
        first, last_end = fragment[at], fragment[-1].end + 1
        if first.text.upper() == "EXECUTE":
            rest = body[first.end + 1 : last_end]
            literal = _single_literal(rest)
            if literal is None and origin == "function-body":
                continue  # runs when the function is called, not by this migration
            if literal is None:
                unknown = Op(K.UNKNOWN, detail={"reason": f"dynamic SQL (EXECUTE) in {origin}"})
                unknown.origin = origin
                unknown.detail["offset"] = str(offset + first.start)
                ops.append(unknown)
                continue
            inner = analyse(literal, offset + first.end + 1 + rest.index("'") + 1)
        else:
            inner = analyse(body[first.start : last_end], offset + first.start)
        for op in inner:
            op.origin = origin
        ops.extend(inner)
    return ops
