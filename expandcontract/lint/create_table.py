"""``CREATE TABLE`` elements sqlglot does not know yet (PostgreSQL 18's table-level
``[CONSTRAINT name] NOT NULL column``): read those elements here, and let sqlglot and the
builder read the statement without them. Any element neither can read leaves the statement a
syntax error, as before."""

from __future__ import annotations

import dataclasses

from sqlglot.tokenizer_core import Token, TokenType

from expandcontract.lint.columns import Source
from expandcontract.lint.ir import K, Op
from expandcontract.lint.tokens import Cursor, split_top_level


def _element_list(tokens: list[Token]) -> tuple[int, int] | None:
    """Indexes of the ``(`` and ``)`` around a CREATE TABLE's element list."""
    cur = Cursor(tokens)
    if not cur.accept("CREATE"):
        return None
    cur.accept("GLOBAL") or cur.accept("LOCAL")
    cur.accept("TEMP") or cur.accept("TEMPORARY") or cur.accept("UNLOGGED")
    if not cur.accept("TABLE"):
        return None
    cur.accept("IF", "NOT", "EXISTS")
    cur.name()
    if cur.done or tokens[cur.i].token_type != TokenType.L_PAREN:
        return None
    depth = 0
    for i in range(cur.i, len(tokens)):
        if tokens[i].token_type == TokenType.L_PAREN:
            depth += 1
        elif tokens[i].token_type == TokenType.R_PAREN:
            depth -= 1
            if depth == 0:
                return cur.i, i
    return None


def _not_null_element(element: list[Token]) -> str | None:
    """The column of a ``[CONSTRAINT name] NOT NULL column [NO INHERIT]`` element."""
    cur = Cursor(element)
    if cur.accept("CONSTRAINT"):
        cur.name()
    if not cur.accept("NOT", "NULL") or cur.done:
        return None
    column = cur.name()
    cur.accept("NO", "INHERIT")
    return column if cur.done else None


def create_table_pieces(tokens: list[Token], text: str) -> list[Op] | None:
    from expandcontract.lint.build import build_ops
    from expandcontract.lint.parse import sqlglot_tree

    bounds = _element_list(tokens)
    if bounds is None:
        return None
    open_at, close_at = bounds
    kept: list[list[Token]] = []
    not_null: list[str] = []
    for element in split_top_level(tokens[open_at + 1 : close_at]):
        column = _not_null_element(element)
        if column is None:
            kept.append(element)
        else:
            not_null.append(column)
    if not not_null or not kept:
        return None
    reduced = tokens[: open_at + 1]
    for i, piece in enumerate(kept):
        if i:
            reduced.append(Token(TokenType.COMMA, ",", start=piece[0].start, end=piece[0].start))
        reduced.extend(piece)
    reduced.extend(tokens[close_at:])
    node, error = sqlglot_tree(reduced, text)
    ops = build_ops(node, Source(reduced, text)) if node is not None and error is None else None
    if not ops or ops[0].kind != K.CREATE_TABLE:
        return None
    table = ops[0]
    table.columns = tuple(
        dataclasses.replace(c, not_null=True) if c.name in not_null else c for c in table.columns
    )
    return ops
