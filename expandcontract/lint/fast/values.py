"""Types, DEFAULT expressions and general expressions for the fast path.

Types and defaults are rendered exactly as the sqlglot path renders them (``integer`` → ``int``,
``now()`` → ``CURRENT_TIMESTAMP``), because rule messages quote them; the tables below are
checked entry by entry against sqlglot in ``tests/lint/test_fast_path.py``. Anything not in a
table declines, and sqlglot reads the statement.
"""

from __future__ import annotations

from expandcontract.lint.fast.cursor import RESERVED, Cursor, Decline
from expandcontract.lint.lexer import (
    DOLLAR,
    END,
    KIND,
    NUMBER,
    OP,
    QUOTED,
    START,
    STRING,
    TEXT,
    UP,
    WORD,
)
from expandcontract.lint.volatility import NON_VOLATILE

# spelling (upper-case words) -> rendering; `modifiers`: how many (n[, m]) it may take
TYPES: dict[str, str] = {
    "TEXT": "text",
    "VARCHAR": "varchar",
    "CHARACTER VARYING": "varchar",
    "CHAR": "char",
    "CHARACTER": "char",
    "INTEGER": "int",
    "INT": "int",
    "INT4": "int",
    "BIGINT": "bigint",
    "INT8": "bigint",
    "SMALLINT": "smallint",
    "INT2": "smallint",
    "BOOLEAN": "boolean",
    "BOOL": "boolean",
    "UUID": "uuid",
    "JSONB": "jsonb",
    "JSON": "json",
    "TIMESTAMPTZ": "timestamptz",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "TIMESTAMP WITHOUT TIME ZONE": "timestamp",
    "DATE": "date",
    "TIME": "time",
    "TIMETZ": "timetz",
    "NUMERIC": "decimal",
    "DECIMAL": "decimal",
    "REAL": "real",
    "FLOAT4": "real",
    "DOUBLE PRECISION": "double precision",
    "FLOAT8": "double precision",
    "BYTEA": "bytea",
    "SERIAL": "serial",
    "BIGSERIAL": "bigserial",
    "SMALLSERIAL": "smallserial",
    "INET": "inet",
    "CIDR": "cidr",
    "INTERVAL": "interval",
    "MONEY": "money",
    "CITEXT": "citext",
    "TSVECTOR": "tsvector",
}
_MODIFIERS = {"varchar": 1, "char": 1, "timestamp": 1, "timestamptz": 1, "decimal": 2}
_MULTI_WORD = sorted((k.split() for k in TYPES if " " in k), key=len, reverse=True)
_MULTI_WORD_STARTS = frozenset(words[0] for words in _MULTI_WORD)
# types sqlglot has no own class for: a cast keeps them as written, not upper-cased
_CAST_KEEPS_CASE = frozenset(("cidr", "citext", "tsvector"))

# DEFAULT spellings sqlglot renders specially; other zero-argument calls in `CALLS` render as
# NAME() (anything else declines)
_KEYWORD_DEFAULTS = {
    "CURRENT_TIMESTAMP": "CURRENT_TIMESTAMP",
    "CURRENT_DATE": "CURRENT_DATE",
    "LOCALTIMESTAMP": "LOCALTIMESTAMP",
    "LOCALTIME": "LOCALTIME",
    "CURRENT_USER": "CURRENT_USER",
    "TRUE": "TRUE",
    "FALSE": "FALSE",
    "NULL": "NULL",
}
CALLS = {
    "NOW": "CURRENT_TIMESTAMP",
    "GEN_RANDOM_UUID": "GEN_RANDOM_UUID()",
    "UUID_GENERATE_V4": "UUID_GENERATE_V4()",
    "CLOCK_TIMESTAMP": "CLOCK_TIMESTAMP()",
    "RANDOM": "RANDOM()",
    "STATEMENT_TIMESTAMP": "STATEMENT_TIMESTAMP()",
    "TRANSACTION_TIMESTAMP": "TRANSACTION_TIMESTAMP()",
}


def column_type(cur: Cursor) -> str:
    """A column type as the sqlglot path renders it."""
    rendered = None
    if cur.peek() in _MULTI_WORD_STARTS:
        for words in _MULTI_WORD:
            if cur.accept(*words):
                rendered = TYPES[" ".join(words)]
                break
    if rendered is None:
        word = cur.peek()
        if word not in TYPES or cur.token()[KIND] != WORD:
            raise Decline("type not in the fast table")
        cur.i += 1
        rendered = TYPES[word]
    if cur.peek() == "(":
        # "timestamp with time zone(3)" is not SQL (the precision goes after "timestamp")
        allowed = _MODIFIERS.get(rendered, 0) if cur.tokens[cur.i - 1][UP] != "ZONE" else 0
        cur.i += 1
        numbers = [cur.number()]
        while cur.accept(","):
            numbers.append(cur.number())
        cur.expect(")")
        if len(numbers) > allowed or not all(n.isdigit() for n in numbers):
            raise Decline("type modifiers")
        rendered += "(" + ", ".join(numbers) + ")"
    if cur.peek() in ("WITH", "WITHOUT") and cur.peek(1) == "TIME":
        raise Decline("time zone after type modifiers")
    if cur.accept("[", "]"):
        rendered += "[]"
    if cur.peek() == "[":
        raise Decline("multi-dimensional or sized array")
    return rendered


def _literal(cur: Cursor) -> str | None:
    token = cur.token()
    if token[KIND] == STRING:
        cur.i += 1
        return "'" + token[TEXT].replace("'", "''") + "'"
    if token[KIND] == NUMBER and not token[TEXT].startswith("."):  # sqlglot writes .5 as 0.5
        cur.i += 1
        return token[TEXT]
    if token[KIND] == OP and token[TEXT] == "-" and cur.i + 1 < cur.n:
        after = cur.tokens[cur.i + 1]
        if after[KIND] == NUMBER and after[START] == token[END] and after[TEXT][0] != ".":
            if cur.peek(2) == "::":
                raise Decline("cast of a negative number")  # sqlglot: -CAST(1 AS INT)
            cur.i += 2
            return "-" + after[TEXT]
    return None


def default_expression(cur: Cursor) -> tuple[str, bool]:
    """(rendering, volatile) of a DEFAULT expression of a known simple form."""
    literal = _literal(cur)
    if literal is not None:
        if cur.accept("::"):
            target = column_type(cur)
            target = target if target.split("[")[0] in _CAST_KEEPS_CASE else target.upper()
            return f"CAST({literal} AS {target})", False
        return literal, False
    word = cur.peek()
    if cur.token()[KIND] == WORD and word in _KEYWORD_DEFAULTS and cur.peek(1) != "(":
        cur.i += 1
        return _KEYWORD_DEFAULTS[word], False
    if word in CALLS and cur.token()[KIND] == WORD and cur.peek(1) == "(" and cur.peek(2) == ")":
        cur.i += 3
        return CALLS[word], CALLS[word] != "CURRENT_TIMESTAMP" and word.lower() not in NON_VOLATILE
    raise Decline("default expression not in the fast forms")


_BINARY_WORDS = frozenset(("AND", "OR", "LIKE", "ILIKE"))
# Binary operators sqlglot parses (checked in tests); others (<<=, ~=, |/ …) decline.
_OPERATOR_TEXT = (
    "= <> != < > <= >= + - * / % || -> ->> #> #>> @> <@ && ~ ~* !~ !~* "
    "? ?| ?& ^ | & << >> # @@ <-> -|- ~~ !~~ ~~* !~~* @? #-"
)
OPERATORS = frozenset(_OPERATOR_TEXT.split())
# Calls the fast path reads, with the argument counts sqlglot accepts for them (checked in
# tests): sqlglot knows hundreds of functions and rejects wrong arities, so an unknown name
# declines rather than guess.
FUNCTIONS: dict[str, tuple[int, ...]] = {
    "LOWER": (1,),
    "UPPER": (1,),
    "LENGTH": (1,),
    "CHAR_LENGTH": (1,),
    "ABS": (1,),
    "MD5": (1,),
    "TRIM": (1,),
    "FLOOR": (1,),
    "CEIL": (1,),
    "TO_JSONB": (1,),
    "COALESCE": (1, 2, 3),
    "NULLIF": (2,),
    "GREATEST": (2, 3),
    "LEAST": (2, 3),
    "BTRIM": (1, 2),
    "ROUND": (1, 2),
    "DATE_TRUNC": (2,),
    "DATE_PART": (2,),
    "TO_CHAR": (2,),
    "ARRAY_LENGTH": (2,),
    "CONCAT": (2, 3),
    "REPLACE": (3,),
    "SUBSTRING": (3,),
    "JSONB_BUILD_OBJECT": (2, 4),
    **{name: (0,) for name in CALLS},
}
_OPERAND_WORDS = frozenset(("TRUE", "FALSE", "NULL", "CURRENT_TIMESTAMP", "CURRENT_DATE"))


def expression(cur: Cursor, stop: frozenset[str] = frozenset()) -> None:
    """Consume one well-formed expression of the common forms (literals, names, calls,
    parentheses, casts, binary operators, IS [NOT] NULL, [NOT] IN / BETWEEN / LIKE);
    ``stop`` words end it. Subqueries, CASE and the like decline."""
    _operand(cur)
    while not cur.done:
        word = cur.peek()
        token = cur.token()
        if word in stop and token[KIND] == WORD:
            return
        if (token[KIND] == OP and word in OPERATORS) or (
            token[KIND] == WORD and word in _BINARY_WORDS
        ):
            cur.i += 1
        elif cur.accept("IS"):
            cur.accept("NOT")
            if cur.accept("DISTINCT", "FROM"):
                _operand(cur)
                continue
            if not (cur.accept("NULL") or cur.accept("TRUE") or cur.accept("FALSE")):
                raise Decline("IS form")
            if not cur.done and cur.token()[KIND] == OP:
                raise Decline("operator after an IS test")  # precedence sqlglot rejects
            continue
        elif token[KIND] == WORD and word in ("NOT", "IN", "BETWEEN"):
            cur.accept("NOT")
            if cur.accept("IN"):
                _list(cur)
                if not cur.done and cur.token()[KIND] == OP:
                    raise Decline("operator after an IN list")  # precedence sqlglot rejects
                continue
            if cur.accept("BETWEEN"):
                _operand(cur)
                cur.expect("AND")
            elif not (cur.accept("LIKE") or cur.accept("ILIKE")):
                raise Decline("NOT form")
        else:
            return
        _operand(cur)


def _list(cur: Cursor) -> None:
    cur.expect("(")
    if cur.peek() == "SELECT":
        raise Decline("subquery")
    expression(cur)
    while cur.accept(","):
        expression(cur)
    cur.expect(")")


def _operand(cur: Cursor) -> None:
    while cur.accept("NOT") or cur.accept("-") or cur.accept("+"):
        pass
    token = cur.token()
    if token[KIND] in (STRING, NUMBER, DOLLAR) or (
        token[KIND] == OP and token[TEXT].startswith("$") and token[TEXT][1:].isdigit()
    ):
        cur.i += 1
    elif cur.peek() == "(":
        cur.i += 1
        if cur.peek() in ("SELECT", "WITH", "VALUES"):
            raise Decline("subquery")
        expression(cur)
        cur.expect(")")
    elif token[KIND] == WORD and token[UP] in _OPERAND_WORDS:
        cur.i += 1
    elif token[KIND] == QUOTED or (token[KIND] == WORD and token[UP] not in RESERVED):
        cur.name()
        if cur.peek() == "(":
            _call_arguments(cur, token[UP])
    else:
        raise Decline("operand form")
    while cur.accept("::"):
        column_type(cur)


def _call_arguments(cur: Cursor, function: str) -> None:
    cur.expect("(")
    count = 0
    if not cur.accept(")"):
        if cur.peek() in ("SELECT", "DISTINCT", "ALL", "*"):
            raise Decline("call form")
        expression(cur)
        count = 1
        while cur.accept(","):
            expression(cur)
            count += 1
        cur.expect(")")
    if count not in FUNCTIONS.get(function, ()):
        raise Decline("function or arity the fast path does not know")
