"""One raw statement → an IR ``Statement``: sqlglot's tree through the one builder
(``parse.py``), then DO-block / function-body inspection."""

from __future__ import annotations

from expandcontract.lint.bodies import body_ops, find_body
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.parse import parse_ops, parse_text
from expandcontract.lint.splitter import LineIndex, RawStatement
from expandcontract.lint.tokens import expand_commands


def _nested(index: LineIndex) -> object:
    def analyse(sql: str, offset: int) -> list[Op]:
        ops = parse_text(sql)
        line, col = index.position(offset)
        for op in ops:
            op.line, op.col = line, col
        return ops

    return analyse


def analyse_statement(raw: RawStatement, text: str, index: LineIndex) -> Statement:
    if raw.tokens:
        ops, error = parse_ops(raw.tokens, text)
    else:  # the file could not be tokenized: the splitter gave one opaque statement
        ops, error = [Op(K.UNKNOWN, detail={"reason": "cannot tokenize"})], None
    stmt = Statement(raw.text, raw.line, raw.column, ops, unparsed_reason=error)
    for name, arg in raw.directives:
        if name == "ec:ignore":
            rules = arg.split()[0] if arg.split() else ""
            stmt.ignores.update(r.strip() for r in rules.split(",") if r.strip())
    has_body = [op.kind for op in ops if op.kind in (K.DO, K.CREATE_FUNCTION)]
    if has_body:
        found = find_body(expand_commands(raw.tokens, text), text)
        if found is not None:
            origin = "do-block" if K.DO in has_body else "function-body"
            nested = body_ops(found[0], found[1], origin, _nested(index))  # type: ignore[arg-type]
            for op in nested:
                if op.line is None and "offset" in op.detail:
                    op.line, op.col = index.position(int(op.detail["offset"]))
            stmt.ops.extend(nested)
    return stmt
