"""A small cursor over sqlglot tokens, for the statements sqlglot leaves opaque."""

from __future__ import annotations

import re

from sqlglot.errors import TokenError
from sqlglot.tokenizer_core import Token, TokenType

_STRINGS = {TokenType.STRING, TokenType.NATIONAL_STRING, TokenType.BYTE_STRING}


def _multiword_types() -> frozenset[TokenType]:
    """Token types sqlglot gives to keyword pairs it reads as one token ("PRIMARY KEY")."""
    from expandcontract.lint.dialect import DIALECT

    keywords = DIALECT.tokenizer_class.KEYWORDS
    return frozenset(kind for word, kind in keywords.items() if " " in word)


_MULTIWORD: frozenset[TokenType] | None = None


def _words(tokens: list[Token]) -> list[Token]:
    """sqlglot keeps some keyword pairs as one token ("PRIMARY KEY", "FOREIGN KEY"): split
    them, so the fallback matches words one by one whatever the spacing."""
    global _MULTIWORD
    if _MULTIWORD is None:
        _MULTIWORD = _multiword_types()
    multiword = _MULTIWORD
    if not any(t.token_type in multiword for t in tokens):
        return tokens
    out: list[Token] = []
    for token in tokens:
        if token.token_type not in multiword:
            out.append(token)
            continue
        for match in re.finditer(r"\S+", token.text):
            start = token.start + match.start()
            out.append(
                Token(token.token_type, match.group(), token.line, token.col, start,
                      start + len(match.group()) - 1)
            )  # fmt: skip
    return out


class Cursor:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = _words(tokens)
        self.i = 0

    @property
    def done(self) -> bool:
        return self.i >= len(self.tokens)

    def peek(self, ahead: int = 0) -> str:
        j = self.i + ahead
        if j >= len(self.tokens):
            return ""
        token = self.tokens[j]
        return "" if token.token_type in _STRINGS else token.text.upper()

    def accept(self, *words: str) -> bool:
        """Consume ``words`` if they come next (all of them), else consume nothing."""
        if all(self.peek(k) == w for k, w in enumerate(words)):
            self.i += len(words)
            return True
        return False

    def skip(self, count: int = 1) -> None:
        self.i += count

    def skip_placeholders(self) -> None:
        """Skip masked template placeholders standing where a keyword may be."""
        from expandcontract.lint.masking import is_placeholder

        while not self.done and is_placeholder(self.tokens[self.i].text):
            self.i += 1

    def skip_parens(self) -> None:
        """Skip a balanced ``( … )`` group starting here."""
        depth = 0
        while not self.done:
            kind = self.tokens[self.i].token_type
            self.i += 1
            if kind == TokenType.L_PAREN:
                depth += 1
            elif kind == TokenType.R_PAREN:
                depth -= 1
                if depth <= 0:
                    return

    def name(self) -> str:
        """A possibly schema-qualified name; quoted parts keep their case."""
        parts: list[str] = []
        while not self.done:
            token = self.tokens[self.i]
            quoted = token.token_type == TokenType.IDENTIFIER
            parts.append(token.text if quoted else token.text.lower())
            self.i += 1
            if self.peek() == ".":
                self.i += 1
                continue
            break
        return ".".join(parts)

    def string(self) -> str:
        if self.done:
            return ""
        token = self.tokens[self.i]
        self.i += 1
        return token.text

    def rest_words(self) -> list[str]:
        return [self.peek(k) for k in range(len(self.tokens) - self.i)]

    def split_actions(self) -> list[Cursor]:
        """The rest split on top-level commas (ALTER TABLE a, b, c)."""
        return [Cursor(g) for g in split_top_level(self.tokens[self.i :])]


def split_top_level(tokens: list[Token]) -> list[list[Token]]:
    """``tokens`` split on top-level commas, tokens unchanged (what sqlglot may parse again)."""
    groups: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
        elif token.token_type == TokenType.COMMA and depth == 0:
            groups.append([])
            continue
        groups[-1].append(token)
    return [g for g in groups if g]


def expand_commands(tokens: list[Token], text: str) -> list[Token]:
    """Re-tokenize the rest of a "command" statement (DO, REFRESH, LOCK, …), which sqlglot's
    tokenizer swallows as one string, so the classifier sees real words and dollar quotes."""
    from expandcontract.lint.dialect import DIALECT, tokenize

    if len(tokens) < 2 or tokens[-1].token_type != TokenType.STRING:
        return tokens
    if tokens[-2].token_type not in DIALECT.tokenizer_class.COMMANDS:
        return tokens
    # the string token's own start is unreliable: the rest begins after the command word
    begin, end = tokens[-2].end + 1, tokens[-1].end + 1
    try:
        inner = tokenize(text[begin:end])
    except TokenError:  # keep the opaque form; the classifier copes
        return tokens
    for token in inner:
        token.start += begin
        token.end += begin
    return tokens[:-1] + inner
