"""One statement → IR ops: sqlglot parses it and ``build.py`` reads the tree.

Where sqlglot has no tree for PostgreSQL-only syntax it does not know, the statement is read
piece by piece rather than dropped: the actions of an ``ALTER TABLE`` (and the elements of a
``CREATE TABLE``) are re-parsed one at a time, so every piece sqlglot knows still goes through
the one builder, and only the pieces it does not know go to the token fallback
(``classify.py``). A piece the fallback cannot read fully makes the statement unanalysed
(or a syntax error), never a partial result.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import Token, TokenType

from expandcontract.lint.build import build_ops
from expandcontract.lint.classify import classify
from expandcontract.lint.classify_alter import read_action, table_header
from expandcontract.lint.columns import Source
from expandcontract.lint.create_table import create_table_pieces
from expandcontract.lint.dialect import parse, tokenize
from expandcontract.lint.ir import K, Op
from expandcontract.lint.tokens import Cursor, expand_commands, split_top_level

# sqlglot turns "START TRANSACTION", "SAVEPOINT x" … into these without any warning.
_MISPARSE = (exp.Command, exp.Alias, exp.Column, exp.Identifier, exp.Literal, exp.Paren)


def sqlglot_tree(tokens: list[Token], text: str) -> tuple[exp.Expr | None, str | None]:
    """sqlglot's tree of one statement (None for no tree) and its error, if it rejected it."""
    try:
        parsed = parse(tokens, text)
    except (ParseError, TokenError) as exc:
        return None, str(exc).splitlines()[0]
    except Exception as exc:  # sqlglot bugs on odd input must not stop the run
        return None, f"sqlglot could not read the statement ({type(exc).__name__}: {exc})"
    node = next((e for e in parsed if e is not None and not isinstance(e, exp.Semicolon)), None)
    return node, None


def _alter_table_by_action(tokens: list[Token], text: str) -> tuple[list[Op], str | None] | None:
    """``ALTER TABLE`` read one action at a time; None when ``tokens`` is not one."""
    header = table_header(tokens)
    if header is None:
        return None
    count, table = header
    ops: list[Op] = []
    for action in split_top_level(tokens[count:]):
        node, _ = sqlglot_tree(tokens[:count] + action, text)
        built = None
        if isinstance(node, exp.Alter) and len(node.args.get("actions") or []) == 1:
            built = build_ops(node, Source(tokens[:count] + action, text))
        if built and all(op.kind != K.UNKNOWN for op in built):
            ops.extend(built)
            continue
        op, error = read_action(table, Cursor(action))
        if error:
            return [Op(K.UNKNOWN, table, detail={"reason": error})], error
        ops.append(op)
    return ops, None


def _at_actions(ops: list[Op], tokens: list[Token]) -> list[Op]:
    """Each op of a several-action ``ALTER TABLE`` at its own action's position, so its
    findings point at it (and are not merged with the other actions')."""
    header = table_header(tokens)
    if header is None:
        return ops
    actions = split_top_level(tokens[header[0] :])
    if len(actions) < 2 or len(actions) != len(ops):
        return ops
    for op, action in list(zip(ops, actions, strict=True))[1:]:  # the first: the statement's
        first = action[0]
        if op.line is None and "\n" not in first.text:
            op.line, op.col = first.line, first.col - len(first.text) + 1
    return ops


def parse_ops(tokens: list[Token], text: str) -> tuple[list[Op], str | None]:
    """IR ops and, if the statement is not valid SQL, the syntax error."""
    ops, error = _parse_ops(tokens, text)
    return _at_actions(ops, tokens) if error is None and len(ops) > 1 else ops, error


def _top_level_items(tokens: list[Token]) -> int:
    """How many objects a DROP names (its comma-separated parts outside parentheses)."""
    return len(split_top_level(tokens))


def _empty_action(tokens: list[Token]) -> str | None:
    """The syntax error of an ALTER TABLE with an empty action (``a, , b`` or ``a,``), which
    sqlglot lets through."""
    header = table_header(tokens)
    if header is None:
        return None
    depth, previous = 0, None
    for token in tokens[header[0] :]:
        kind = token.token_type
        if kind == TokenType.COMMA and depth == 0 and previous in (None, TokenType.COMMA):
            return "syntax error at or near ','"
        depth += (kind == TokenType.L_PAREN) - (kind == TokenType.R_PAREN)
        previous = kind
    return "syntax error at end of statement" if previous == TokenType.COMMA else None


def _parse_ops(tokens: list[Token], text: str) -> tuple[list[Op], str | None]:
    empty = _empty_action(tokens)
    if empty is not None:
        return [Op(K.UNKNOWN, detail={"reason": empty})], empty
    node, error = sqlglot_tree(tokens, text)
    ops = None
    if node is not None and not isinstance(node, _MISPARSE):
        ops = build_ops(node, Source(tokens, text))
        if isinstance(node, exp.Drop) and ops and len(ops) != _top_level_items(tokens):
            ops = None  # sqlglot kept fewer objects than the statement names (DROP SCHEMA a, b)
        strict = [op.detail["syntax_error"] for op in ops or () if "syntax_error" in op.detail]
        if strict:
            return [Op(K.UNKNOWN, detail={"reason": strict[0]})], strict[0]
        if ops is not None and all(op.kind != K.UNKNOWN for op in ops):
            return ops, None
    by_action = _alter_table_by_action(tokens, text)
    if by_action is not None:
        return by_action
    if ops is not None:
        return ops, None
    if error is not None:
        pieces = create_table_pieces(tokens, text)
        if pieces is not None:
            return pieces, None
    ops = classify(expand_commands(tokens, text))
    if error and all(op.kind == K.UNKNOWN for op in ops):
        return ops, error
    strict = [op.detail.pop("syntax_error") for op in ops if "syntax_error" in op.detail]
    if strict:
        return [Op(K.UNKNOWN, detail={"reason": strict[0]})], strict[0]
    return ops, None


def parse_text(sql: str) -> list[Op]:
    """IR ops of a statement given as text (a DO-block or function-body statement)."""
    try:
        tokens = tokenize(sql)
    except TokenError:
        return [Op(K.UNKNOWN, detail={"reason": "cannot tokenize body statement"})]
    while tokens and tokens[-1].token_type == TokenType.SEMICOLON:
        tokens.pop()
    return parse_ops(tokens, sql)[0]
