"""Fast recognition of everything but table DDL: transaction control, SET/RESET, simple DML,
COMMENT/GRANT, REFRESH, DO blocks, functions and a few CREATE forms — the same IR ops as the
sqlglot path gives (``build.py`` or, for what sqlglot leaves opaque, ``classify.py``)."""

from __future__ import annotations

from expandcontract.lint.fast import ddl
from expandcontract.lint.fast.cursor import RESERVED, Cursor, Decline
from expandcontract.lint.fast.values import expression
from expandcontract.lint.ir import K, Op
from expandcontract.lint.lexer import DOLLAR, KIND, NUMBER, QUOTED, STRING, TEXT, UP, WORD

_ALWAYS_HARMLESS = ("COMMENT", "GRANT", "REVOKE", "ANALYZE")  # both sqlglot paths agree
_WHERE_OR_END = frozenset(("FROM", "WHERE", "RETURNING", "USING"))


_TRANSACTION = {"BEGIN": K.BEGIN, "COMMIT": K.COMMIT, "END": K.COMMIT, "ROLLBACK": K.ROLLBACK}


def _transaction(cur: Cursor, word: str) -> list[Op]:
    if word == "START":
        cur.expect("TRANSACTION")
        kind = K.BEGIN
    else:
        kind = _TRANSACTION[word]
        cur.accept("WORK") or cur.accept("TRANSACTION")
    cur.end()
    return [Op(kind)]


def _set(cur: Cursor) -> list[Op]:
    local = cur.accept("LOCAL")
    cur.accept("SESSION")
    if cur.peek() in ("TRANSACTION", "CHARACTERISTICS", "CONSTRAINTS", "ROLE", "TIME"):
        raise Decline("SET form")
    if cur.token()[KIND] == QUOTED:  # the sqlglot path reads "transaction" as the keyword
        raise Decline("quoted setting name")
    name = cur.name(2)
    if not (cur.accept("=") or cur.accept("TO")):
        raise Decline("SET without = or TO")
    token = cur.token()
    if token[KIND] == NUMBER and token[TEXT][0] == ".":  # sqlglot writes .5 as 0.5
        raise Decline("SET value form")
    if token[KIND] in (STRING, NUMBER) or (
        token[KIND] == WORD and token[UP] not in RESERVED and token[UP] != "DEFAULT"
    ):
        value = token[TEXT]
    else:
        raise Decline("SET value form")
    cur.i += 1
    cur.end()
    return [Op(K.SET, name=name, detail={"value": value.lower(), "local": "yes" if local else ""})]


def _returning(cur: Cursor) -> None:
    if cur.accept("RETURNING") and not cur.accept("*"):
        expression(cur)
        while cur.accept(","):
            expression(cur)


def _table_alias(cur: Cursor) -> None:
    if cur.accept("AS") or (cur.token()[KIND] == WORD and cur.peek() not in RESERVED):
        cur.name(1)


def _from_list(cur: Cursor) -> None:
    cur.name()
    if not cur.done and cur.peek() not in (",", "WHERE", "RETURNING"):
        _table_alias(cur)
    if cur.accept(","):
        _from_list(cur)


def _update(cur: Cursor) -> list[Op]:
    cur.accept("ONLY")
    table = cur.name()
    if cur.peek() != "SET":
        _table_alias(cur)
    cur.expect("SET")
    names = []
    while True:
        names.append(cur.name(1))
        cur.expect("=")
        if not cur.accept("DEFAULT"):
            expression(cur, _WHERE_OR_END)
        if not cur.accept(","):
            break
    if cur.accept("FROM"):
        _from_list(cur)
    has_where = cur.accept("WHERE")
    if has_where:
        expression(cur, _WHERE_OR_END)
    _returning(cur)
    cur.end()
    dupes = sorted({n for n in names if names.count(n) > 1})
    detail = {"duplicate_assignments": ",".join(dupes)} if dupes else {}
    return [Op(K.UPDATE, table, has_where=has_where, detail=detail)]


def _delete(cur: Cursor) -> list[Op]:
    cur.expect("FROM")
    cur.accept("ONLY")
    table = cur.name()
    if not cur.done and cur.peek() not in ("USING", "WHERE", "RETURNING"):
        _table_alias(cur)
    if cur.accept("USING"):
        _from_list(cur)
    has_where = cur.accept("WHERE")
    if has_where:
        expression(cur, _WHERE_OR_END)
    _returning(cur)
    cur.end()
    return [Op(K.DELETE, table, has_where=has_where)]


def _insert(cur: Cursor) -> list[Op]:
    cur.expect("INTO")
    table = cur.name()
    if cur.peek() == "(":
        cur.names_in_parens()
    if not cur.accept("DEFAULT", "VALUES"):
        cur.expect("VALUES")
        while True:
            cur.expect("(")
            expression(cur)
            while cur.accept(","):
                expression(cur)
            cur.expect(")")
            if not cur.accept(","):
                break
    if cur.accept("ON", "CONFLICT"):
        if cur.peek() == "(":
            cur.names_in_parens()
        cur.expect("DO", "NOTHING")
    _returning(cur)
    cur.end()
    return [Op(K.INSERT, table, detail={"select": ""})]


def _has_body(cur: Cursor) -> bool:
    return sum(1 for t in cur.tokens if t[KIND] == DOLLAR) == 1


def _create(cur: Cursor) -> list[Op]:
    replace = cur.accept("OR", "REPLACE")
    if cur.peek() in ("FUNCTION", "PROCEDURE") and _has_body(cur):
        cur.i += 1
        name = cur.name()
        if cur.peek() != "(":
            raise Decline("function without arguments list")
        return [Op(K.CREATE_FUNCTION, None, name)]
    if replace:
        raise Decline("CREATE OR REPLACE form")
    unique = cur.accept("UNIQUE")
    if cur.accept("INDEX"):
        return ddl.create_index(cur, unique)
    if unique:
        raise Decline("CREATE UNIQUE form")
    if cur.accept("TABLE"):
        return ddl.create_table(cur)
    if cur.accept("TYPE"):
        name = cur.name()
        cur.expect("AS", "ENUM", "(")
        cur.string()
        while cur.accept(","):
            cur.string()
        cur.expect(")")
        cur.end()
        return [Op(K.HARMLESS, name, detail={"object": "TYPE", "created": "yes"})]
    raise Decline("CREATE form")


def _refresh(cur: Cursor) -> list[Op]:
    concurrently = cur.accept("CONCURRENTLY")
    if cur.token()[KIND] == QUOTED:
        raise Decline("quoted view name")  # the sqlglot path reads "concurrently" as the word
    name = cur.name()
    if cur.accept("WITH"):
        cur.accept("NO")
        cur.expect("DATA")
    cur.end()
    return [Op(K.REFRESH_MATVIEW, name, concurrently=concurrently)]


def _do(cur: Cursor) -> list[Op]:
    if cur.accept("LANGUAGE"):
        cur.name(1)
    if cur.token()[KIND] != DOLLAR:
        raise Decline("DO without a dollar-quoted body")
    cur.i += 1
    if cur.accept("LANGUAGE"):
        cur.name(1)
    cur.end()
    return [Op(K.DO)]


def statement(cur: Cursor) -> list[Op]:
    word = cur.peek()
    if cur.token()[KIND] != WORD:
        raise Decline("statement not starting with a word")
    if word in _ALWAYS_HARMLESS:
        return [Op(K.HARMLESS)]
    cur.i += 1
    if word in _TRANSACTION or word == "START":
        return _transaction(cur, word)
    if word == "ALTER" and cur.accept("TABLE"):
        return ddl.alter_table(cur)
    if word == "CREATE":
        return _create(cur)
    if word == "DROP":
        return ddl.drop(cur)
    if word == "SET":
        return _set(cur)
    if word == "RESET" and cur.peek() != "ALL":
        name = cur.name(2)
        cur.end()
        return [Op(K.SET, name=name, detail={"value": "default"})]
    if word == "UPDATE":
        return _update(cur)
    if word == "DELETE":
        return _delete(cur)
    if word == "INSERT":
        return _insert(cur)
    if word == "REFRESH" and cur.accept("MATERIALIZED", "VIEW"):
        return _refresh(cur)
    if word == "DO":
        return _do(cur)
    raise Decline("statement kind")
