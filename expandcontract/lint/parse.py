"""The sqlglot path for one statement: parse, fill the IR from the tree (``build.py``), and the
token classifier (``classify.py``) for what sqlglot leaves opaque, misparses or rejects."""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import Token

from expandcontract.lint.build import build_ops
from expandcontract.lint.classify import classify
from expandcontract.lint.dialect import DIALECT
from expandcontract.lint.ir import K, Op
from expandcontract.lint.tokens import expand_commands

# sqlglot turns "START TRANSACTION", "SAVEPOINT x" … into these without any warning.
_MISPARSE = (exp.Command, exp.Alias, exp.Column, exp.Identifier, exp.Literal, exp.Paren)


def parse_ops(tokens: list[Token], text: str) -> tuple[list[Op], str | None]:
    """IR ops and, if sqlglot rejected the statement, its error."""
    error: str | None = None
    node: exp.Expr | None = None
    try:
        parsed = DIALECT.parser().parse(tokens, text)
        node = next((e for e in parsed if e is not None and not isinstance(e, exp.Semicolon)), None)
    except (ParseError, TokenError) as exc:
        error = str(exc).splitlines()[0]
    except Exception as exc:
        error = f"sqlglot could not read the statement ({type(exc).__name__}: {exc})"
    ops = None
    if node is not None and not isinstance(node, _MISPARSE):
        ops = build_ops(node)
    if ops is None:
        ops = classify(expand_commands(tokens, text))
        if error and all(op.kind == K.UNKNOWN for op in ops):
            return ops, error
    return ops, None


def parse_text(sql: str) -> list[Op]:
    """IR ops of a statement given as text (a DO-block or function-body statement)."""
    try:
        tokens = DIALECT.tokenize(sql)
    except TokenError:
        return [Op(K.UNKNOWN, detail={"reason": "cannot tokenize body statement"})]
    return parse_ops(tokens, sql)[0]
