"""One raw statement → an IR ``Statement``: the fast path (``fast/``) when it reads the statement
exactly, else the sqlglot path (``parse.py``, imported only then); then DO-block / function-body
inspection."""

from __future__ import annotations

import contextlib

from expandcontract.lint.bodies import body_ops, find_body, from_sqlglot
from expandcontract.lint.fast import recognize
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.lexer import DOLLAR, END, KIND, START, LexError, Tok, lex
from expandcontract.lint.splitter import LineIndex, RawStatement

# Off only in the tests that compare the fast path with the sqlglot path.
FAST_PATH = True


def _text_ops(sql: str, tokens: list[Tok] | None) -> list[Op]:
    """Ops of a statement inside a body; ``tokens`` (when the body was lexed by the fast
    lexer) save lexing it again: the recognizer reads words, not offsets."""
    ops = None
    if FAST_PATH and "--" not in sql and "/*" not in sql:  # see _has_comment
        with contextlib.suppress(LexError):
            ops = recognize(tokens if tokens is not None else lex(sql))
    if ops is None:
        from expandcontract.lint.parse import parse_text

        ops = parse_text(sql)
    return ops


def _nested(index: LineIndex) -> object:
    def analyse(sql: str, offset: int, tokens: list[Tok] | None) -> list[Op]:
        ops = _text_ops(sql, tokens)
        line, col = index.position(offset)
        for op in ops:
            op.line, op.col = line, col
        return ops

    return analyse


def _has_comment(raw: RawStatement, text: str) -> bool:
    """A comment inside the statement (outside dollar-quoted bodies). sqlglot keeps comments on
    its tree and renders them into defaults and types; the fast path drops them, so it leaves
    such statements to sqlglot. (A "--" inside a string declines too: rare, and safe.)"""
    if "--" not in raw.text and "/*" not in raw.text:
        return False
    parts, at = [], raw.start
    for tok in raw.tokens:
        if tok[KIND] == DOLLAR:  # type: ignore[index]
            parts.append(text[at : tok[START]])  # type: ignore[index]
            at = tok[END]  # type: ignore[index]
    parts.append(text[at : raw.end])
    return any("--" in part or "/*" in part for part in parts)


def _statement_ops(raw: RawStatement, text: str) -> tuple[list[Op], str | None, list[Tok]]:
    """(ops, sqlglot's error if it rejected the statement, tokens to search for a body)."""
    if raw.fast and FAST_PATH and not _has_comment(raw, text):
        ops = recognize(raw.tokens)  # type: ignore[arg-type]
        if ops is not None:
            return ops, None, raw.tokens  # type: ignore[return-value]
    from sqlglot.errors import TokenError

    from expandcontract.lint.parse import parse_ops
    from expandcontract.lint.tokens import expand_commands

    try:
        tokens = raw.sqlglot_tokens()
    except TokenError as exc:
        return [Op(K.UNKNOWN, detail={"reason": "cannot tokenize"})], f"cannot tokenize: {exc}", []
    ops, error = parse_ops(tokens, text)
    body_tokens: list[Tok] = []
    if any(op.kind in (K.DO, K.CREATE_FUNCTION) for op in ops):
        body_tokens = from_sqlglot(expand_commands(tokens, text))
    return ops, error, body_tokens


def analyse_statement(raw: RawStatement, text: str, index: LineIndex) -> Statement:
    ops, error, tokens = _statement_ops(raw, text)
    stmt = Statement(raw.text, raw.line, raw.column, ops, unparsed_reason=error)
    for name, arg in raw.directives:
        if name == "ec:ignore":
            rules = arg.split()[0] if arg.split() else ""
            stmt.ignores.update(r.strip() for r in rules.split(",") if r.strip())
    has_body = [op.kind for op in ops if op.kind in (K.DO, K.CREATE_FUNCTION)]
    if has_body:
        found = find_body(tokens, text)
        if found is not None:
            origin = "do-block" if K.DO in has_body else "function-body"
            nested = body_ops(found[0], found[1], origin, _nested(index))  # type: ignore[arg-type]
            for op in nested:
                if op.line is None and "offset" in op.detail:
                    op.line, op.col = index.position(int(op.detail["offset"]))
            stmt.ops.extend(nested)
    return stmt
