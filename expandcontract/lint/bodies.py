"""Look inside ``DO $$ … $$`` blocks and function bodies for the statements they run.

A DO block runs at migration time, so its DDL and DML are linted like top-level statements. A
function body runs only when called, so only its DDL is reported (a trigger function's INSERT is
normal). ``EXECUTE 'literal'`` is linted; other dynamic SQL is reported as unanalysable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from expandcontract.lint.ir import K, Op
from expandcontract.lint.lexer import (
    DOLLAR,
    END,
    KIND,
    NUMBER,
    PUNCT,
    QUOTED,
    START,
    STRING,
    TEXT,
    WORD,
    LexError,
    Tok,
    lex,
    token,
)

if TYPE_CHECKING:
    from sqlglot.tokenizer_core import Token

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_DDL = {"ALTER", "CREATE", "DROP", "TRUNCATE", "LOCK", "REINDEX", "VACUUM", "CLUSTER", "REFRESH"}
_DML = {"UPDATE", "DELETE", "INSERT"}
_BLOCK_WORDS = {"BEGIN", "THEN", "ELSE", "LOOP", "DECLARE", "EXCEPTION"}
_NON_SQL_LANGS = {"plpython3u", "plpythonu", "plperl", "plperlu", "plv8", "c", "internal"}

# (statement text, its file offset, its tokens when already lexed) -> ops
Analyse = Callable[[str, int, list[Tok] | None], list[Op]]


def from_sqlglot(tokens: list[Token]) -> list[Tok]:
    """sqlglot tokens as fast-lexer tokens (end exclusive), for text the fast lexer declined."""
    from sqlglot.tokenizer_core import TokenType

    kinds = {
        TokenType.SEMICOLON: PUNCT,
        TokenType.HEREDOC_STRING: DOLLAR,
        TokenType.STRING: STRING,
        TokenType.IDENTIFIER: QUOTED,
        TokenType.NUMBER: NUMBER,
        TokenType.L_PAREN: PUNCT,
        TokenType.R_PAREN: PUNCT,
        TokenType.COMMA: PUNCT,
        TokenType.DOT: PUNCT,
    }
    return [token(kinds.get(t.token_type, WORD), t.text, t.start, t.end + 1) for t in tokens]


def tokens_of(text: str) -> tuple[list[Tok], bool] | None:
    """(tokens of ``text``, whether the fast lexer read it — sqlglot's tokens, converted, when it
    declined); None when neither can read it."""
    try:
        return lex(text), True
    except LexError:
        from sqlglot.errors import TokenError

        from expandcontract.lint.dialect import DIALECT

        try:
            return from_sqlglot(DIALECT.tokenize(text)), False
        except TokenError:
            return None


def find_body(tokens: list[Tok], text: str) -> tuple[str, int] | None:
    """(body text, file offset of its first char) of the dollar-quoted body, if any."""
    words = [t[TEXT].lower() for t in tokens]
    if "language" in words:
        lang_at = words.index("language") + 1
        if lang_at < len(words) and words[lang_at] in _NON_SQL_LANGS:
            return None
    for tok in tokens:
        if tok[KIND] == DOLLAR:
            match = _DOLLAR.match(text, tok[START])
            start = match.end() if match else tok[START]
            return tok[TEXT], start
    return None


def _fragments(tokens: list[Tok]) -> list[list[Tok]]:
    groups: list[list[Tok]] = [[]]
    for tok in tokens:
        if tok[KIND] == PUNCT and tok[TEXT] == ";":
            groups.append([])
        else:
            groups[-1].append(tok)
    return [g for g in groups if g]


def _statement_start(fragment: list[Tok], wanted: set[str]) -> int | None:
    for i, tok in enumerate(fragment):
        word = tok[TEXT].upper()
        if (word in wanted or word == "EXECUTE") and (
            i == 0 or fragment[i - 1][TEXT].upper() in _BLOCK_WORDS
        ):
            return i
        if word not in _BLOCK_WORDS and i == 0 and word not in ("IF", "ELSIF", "WHEN", "FOR"):
            return None
    return None


def _single_literal(rest: str) -> str | None:
    """The SQL of ``EXECUTE 'literal'``; None for anything dynamic."""
    rest = rest.strip()
    if len(rest) < 2 or rest[0] != "'" or rest[-1] != "'" or "'" in rest[1:-1].replace("''", ""):
        return None
    return rest[1:-1].replace("''", "'")


def body_ops(body: str, offset: int, origin: str, analyse: Analyse) -> list[Op]:
    """Ops of the statements in a PL/pgSQL or SQL body starting at file ``offset``."""
    lexed = tokens_of(body)
    if lexed is None:
        return [Op(K.UNKNOWN, detail={"reason": f"cannot tokenize {origin} body"}, origin=origin)]
    tokens, fast = lexed
    wanted = _DDL | _DML if origin == "do-block" else _DDL
    ops: list[Op] = []
    for fragment in _fragments(tokens):
        at = _statement_start(fragment, wanted)
        if at is None:
            continue
        first = fragment[at]
        if first[TEXT].upper() == "EXECUTE":
            rest = body[first[END] : fragment[-1][END]]
            literal = _single_literal(rest)
            if literal is None:
                ops.append(
                    Op(
                        K.UNKNOWN,
                        detail={"reason": f"dynamic SQL (EXECUTE) in {origin}"},
                        origin=origin,
                        line=None,
                    )
                )
                ops[-1].detail["offset"] = str(offset + first[START])
                continue
            inner = analyse(literal, offset + first[END] + rest.index("'") + 1, None)
        else:
            sql = body[first[START] : fragment[-1][END]]
            # converted sqlglot tokens are only good for finding statements, not for reading
            inner = analyse(sql, offset + first[START], fragment[at:] if fast else None)
        for op in inner:
            op.origin = origin
        ops.extend(inner)
    return ops
