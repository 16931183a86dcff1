"""The fast path: common statement shapes read straight from fast-lexer tokens into the IR,
without sqlglot. It is strict — every token must be consumed by a shape it knows exactly — and
declines (returns None) otherwise, so sqlglot still reads everything unusual. Tests compare it
with the sqlglot path on every labelled case, fixture, plan and generated statement."""

from __future__ import annotations

from expandcontract.lint.fast.cursor import Cursor, Decline
from expandcontract.lint.fast.statements import statement
from expandcontract.lint.ir import Op
from expandcontract.lint.lexer import Tok


def recognize(tokens: list[Tok]) -> list[Op] | None:
    """IR ops of one statement, or None to let the sqlglot path read it."""
    if not tokens:
        return None
    try:
        return statement(Cursor(tokens))
    except Decline:
        return None
