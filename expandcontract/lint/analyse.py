"""One raw statement → an IR ``Statement``: sqlglot parse, then the token classifier for what
sqlglot leaves opaque, then DO-block / function-body inspection."""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import Token

from expandcontract.lint.bodies import body_ops, find_body
from expandcontract.lint.build import build_ops
from expandcontract.lint.classify import classify
from expandcontract.lint.dialect import DIALECT
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.splitter import LineIndex, RawStatement
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
    ops = None
    if node is not None and not isinstance(node, _MISPARSE):
        ops = build_ops(node)
    if ops is None:
        ops = classify(expand_commands(tokens, text))
        if error and all(op.kind == K.UNKNOWN for op in ops):
            return ops, error
    return ops, None


def _nested(text: str, index: LineIndex) -> object:
    def analyse(sql: str, offset: int) -> list[Op]:
        try:
            tokens = DIALECT.tokenize(sql)
        except TokenError:
            return [Op(K.UNKNOWN, detail={"reason": "cannot tokenize body statement"})]
        ops, _ = parse_ops(tokens, sql)
        line, col = index.position(offset)
        for op in ops:
            op.line, op.col = line, col
        return ops

    return analyse


def analyse_statement(raw: RawStatement, text: str, index: LineIndex) -> Statement:
    ops, error = parse_ops(raw.tokens, text)
    stmt = Statement(raw.text, raw.line, raw.column, ops, unparsed_reason=error)
    for name, arg in raw.directives:
        if name == "ec:ignore":
            rules = arg.split()[0] if arg.split() else ""
            stmt.ignores.update(r.strip() for r in rules.split(",") if r.strip())
    kinds = stmt.kinds
    if K.DO in kinds or K.CREATE_FUNCTION in kinds:
        found = find_body(expand_commands(raw.tokens, text), text)
        if found is not None:
            origin = "do-block" if K.DO in kinds else "function-body"
            analyse = _nested(text, index)
            nested = body_ops(found[0], found[1], origin, analyse)  # type: ignore[arg-type]
            for op in nested:
                if op.line is None and "offset" in op.detail:
                    op.line, op.col = index.position(int(op.detail["offset"]))
            stmt.ops.extend(nested)
    return stmt
