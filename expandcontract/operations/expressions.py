"""User-written SQL (up, down, defaults, checks, predicates, SET/WHERE of a backfill, types) is
code, so each fragment must be exactly one expression (or one type name) before it is spliced
into a statement, a trigger or a view.

Two independent checks, both before anything runs:

1. **structure, without a database** (:func:`parse_expression`, :func:`parse_type`): sqlglot's
   tokenizer finds no statement separator, no comment (a ``--`` comment would swallow the rest
   of the generated line) and brackets that never close more than they opened; sqlglot's parser
   reads the whole text as one expression;
2. **PostgreSQL itself** (:func:`parse_only`): the statement the fragment will be part of is
   sent as a protocol-level Parse message. Parse analyses one statement and executes nothing
   (PostgreSQL refuses several commands in one Parse), once with ``standard_conforming_strings``
   on and once off, because a trigger body is re-read by every session that runs it.

Splice sites say what they splice: :func:`expression_sql` / :func:`type_sql` (checked user
text), :func:`catalog_sql` (text PostgreSQL itself printed, e.g. ``pg_get_expr``) and
``RawSql``'s statements (the escape hatch, several statements by design).
"""

from __future__ import annotations

import functools
from typing import Any

import psycopg
from psycopg import pq, sql

from expandcontract.operations.base import MigrationInvalid

_OPEN = {"L_PAREN": "R_PAREN", "L_BRACKET": "R_BRACKET", "L_BRACE": "R_BRACE"}
_CLOSE = set(_OPEN.values())


class ExpressionInvalid(MigrationInvalid):
    """A user fragment is not exactly one expression (or type); nothing was executed."""


def _tokens(text: str, what: str) -> list[Any]:
    import sqlglot
    from sqlglot.errors import TokenError

    if not text.strip():
        raise ExpressionInvalid(f"{what} is empty")
    if "\x00" in text:
        raise ExpressionInvalid(f"{what} contains a NUL character")
    try:
        tokens = sqlglot.tokenize(text, read="postgres")
    except TokenError as exc:
        raise ExpressionInvalid(f"{what} {text!r} cannot be read as SQL: {exc}") from None
    depth: list[str] = []
    for token in tokens:
        kind = token.token_type.name
        if kind in ("SEMICOLON", "SEMI"):
            raise ExpressionInvalid(
                f"{what} {text!r} contains ';': it must be one SQL expression, not statements",
                "remove the ';' (an expression never needs one)",
            )
        if token.comments:
            raise ExpressionInvalid(
                f"{what} {text!r} contains a comment",
                "remove the comment: ec splices the expression into generated SQL",
            )
        if kind in _OPEN:
            depth.append(_OPEN[kind])
        elif kind in _CLOSE and (not depth or depth.pop() != kind):
            raise ExpressionInvalid(
                f"{what} {text!r} closes a bracket it did not open",
                "an expression must be self-contained: balance its parentheses",
            )
    if depth:
        raise ExpressionInvalid(
            f"{what} {text!r} leaves a bracket open",
            "an expression must be self-contained: balance its parentheses",
        )
    return tokens


@functools.lru_cache(maxsize=1024)
def _parse(text: str, what: str) -> Any:
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    _tokens(text, what)
    try:
        tree = sqlglot.parse_one(text, read="postgres", into=exp.Condition)
    except (ParseError, TokenError) as exc:
        raise ExpressionInvalid(
            f"{what} {text!r} is not one SQL expression: {_reason(exc)}",
            "write a single expression such as `lower(email)` or `amount::bigint`",
        ) from None
    if isinstance(tree, exp.Block | exp.Command) or tree is None:
        raise ExpressionInvalid(f"{what} {text!r} is not one SQL expression")
    if any(isinstance(node, exp.Parameter | exp.Placeholder) for node in tree.walk()):
        raise ExpressionInvalid(
            f"{what} {text!r} contains a parameter ($1, ?): nothing would fill it in",
            "write the value itself, or a column name",
        )
    return tree


def _reason(exc: Exception) -> str:
    """sqlglot's first error, where it stopped, without its class names."""
    errors = getattr(exc, "errors", None) or []
    if errors:
        first = errors[0]
        where = f"{first.get('start_context', '')}{first.get('highlight', '')}".strip()
        description = str(first.get("description", "")).split(" for <class")[0]
        return f"{description} at {where!r}" if where else description
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def parse_expression(text: str, *, what: str = "expression") -> Any:
    """The sqlglot tree of ``text`` if it is exactly one expression; ExpressionInvalid else."""
    return _parse(text, what)


def check_expression(text: str | None, *, what: str) -> str | None:
    """``text`` unchanged when it is one expression (or None); ExpressionInvalid else."""
    if text is not None:
        parse_expression(text, what=what)
    return text


# Words of a column definition that may follow a type but are never part of one.
_NOT_IN_A_TYPE = {
    "CHECK", "DEFAULT", "GENERATED", "NOT", "NULL", "REFERENCES", "CONSTRAINT", "PRIMARY",
    "UNIQUE", "COLLATE", "AS", "IDENTITY", "USING", "SELECT", "ON", "STORED", "ALWAYS",
}  # fmt: skip


@functools.lru_cache(maxsize=1024)
def _check_type(text: str, what: str) -> None:
    tokens = _tokens(text, what)
    # A type is names, numbers, brackets and commas (varchar(20), numeric(10, 2), int[],
    # "MyType", public.t, timestamp with time zone): nothing that evaluates anything.
    allowed = {"DOT", "COMMA", "NUMBER", "IDENTIFIER", "VAR", *_OPEN, *_CLOSE}
    for token in tokens:
        kind = token.token_type.name
        word = token.text.replace("_", "").replace(" ", "")  # keywords: CHARACTER VARYING
        if kind != "IDENTIFIER" and token.text.upper() in _NOT_IN_A_TYPE:
            raise ExpressionInvalid(
                f"{what} {text!r} is not a type name: {token.text} belongs to a column "
                "definition, not to its type",
                "give only the type here; defaults, checks and NOT NULL have their own fields",
            )
        if kind in allowed or ("STRING" not in kind and word.isalnum()):
            continue
        raise ExpressionInvalid(
            f"{what} {text!r} is not a type name",
            "write a PostgreSQL type such as bigint, varchar(20), numeric(10, 2) or text[]",
        )


def check_type(text: str | None, *, what: str) -> None:
    if text is not None:
        _check_type(text, what)


def expression_sql(text: str) -> sql.SQL:
    """A user expression, checked to be one expression, as a SQL fragment."""
    parse_expression(text)
    return sql.SQL(text)


def type_sql(text: str) -> sql.SQL:
    """A user type name, checked to be a type, as a SQL fragment."""
    _check_type(text, "type")
    return sql.SQL(text)


def catalog_sql(text: str) -> sql.SQL:
    """Text PostgreSQL printed itself (pg_get_expr, pg_get_constraintdef, regclass names)."""
    return sql.SQL(text)


def parse_only(conn: psycopg.Connection[Any], statement: sql.Composable) -> str | None:
    """Have PostgreSQL parse and analyse ``statement`` without running it; the error message
    (None when it is valid). A protocol-level Parse holds at most one statement and executes
    nothing; it is tried under both settings of standard_conforming_strings."""
    text = statement.as_string(conn).encode()
    for conforming in ("on", "off"):
        with conn.transaction(force_rollback=True):
            conn.execute(
                "SELECT set_config('standard_conforming_strings', %s, true),"
                " set_config('escape_string_warning', 'off', true),"
                " set_config('statement_timeout', '10s', true)",
                (conforming,),
            )
            result = conn.pgconn.prepare(b"", text)
            if result.status == pq.ExecStatus.FATAL_ERROR:
                primary = result.error_field(pq.DiagnosticField.MESSAGE_PRIMARY)
                message = (primary or result.error_message or b"invalid").decode(errors="replace")
                if conforming == "off":
                    message += (
                        " (read with standard_conforming_strings = off, as some sessions may:"
                        " write backslashes in E'' strings)"
                    )
                return message.strip()
    return None


def rename_columns(expression: str, mapping: dict[str, str], *, where: str) -> str:
    """Rewrite column references through ``mapping`` (logical -> physical), using sqlglot's
    parser rather than string replacement, so literals and function names are left alone."""
    from sqlglot import exp

    tree = parse_expression(expression, what=where)

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and _name(node) in mapping:
            return exp.column(mapping[_name(node)], quoted=True)
        return node

    if all(k == v for k, v in mapping.items()):
        return expression
    return str(tree.copy().transform(swap).sql(dialect="postgres"))


def referenced_columns(expression: str, names: set[str]) -> set[str] | None:
    """Which of ``names`` an expression reads (unqualified column references), or None when it
    cannot be told (then callers must assume it reads everything)."""
    from sqlglot import exp

    try:
        tree = parse_expression(expression)
    except MigrationInvalid:
        return None
    return {_name(c) for c in tree.find_all(exp.Column) if not c.table and _name(c) in names}


def _name(column: Any) -> str:
    """A column reference as PostgreSQL resolves it: unquoted names fold to lower case."""
    identifier = column.this
    quoted = bool(getattr(identifier, "quoted", False))
    return str(column.name) if quoted else str(column.name).lower()
