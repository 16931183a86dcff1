"""Token classifier for statements sqlglot returns as an opaque ``Command``, misparses, or
rejects. Works on sqlglot tokens (never regexes on raw text), so strings, comments and dollar
quotes cannot confuse it. What it cannot place becomes ``K.UNKNOWN`` → ``unanalysed-statement``.
"""

from __future__ import annotations

from sqlglot.tokenizer_core import Token

from expandcontract.lint.classify_alter import alter_table
from expandcontract.lint.ir import K, Op
from expandcontract.lint.tokens import Cursor

_HARMLESS_FIRST = {
    "ANALYZE",
    "COMMENT",
    "GRANT",
    "REVOKE",
    "NOTIFY",
    "LISTEN",
    "DISCARD",
    "CHECKPOINT",
    "SECURITY",
    "EXPLAIN",
    "SHOW",
    "COPY",
}
_LOCK_MODES = (
    "ACCESS SHARE",
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE ROW EXCLUSIVE",
    "SHARE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
)


def _lock(cur: Cursor) -> list[Op]:
    cur.accept("TABLE")
    cur.accept("ONLY")
    tables = [cur.name()]
    while cur.accept(","):
        tables.append(cur.name())
    words = cur.rest_words()
    mode = "ACCESS EXCLUSIVE"
    if "IN" in words and "MODE" in words:
        mode = " ".join(words[words.index("IN") + 1 : words.index("MODE")])
    return [Op(K.LOCK_TABLE, t, detail={"mode": mode}) for t in tables]


def _reindex(cur: Cursor) -> list[Op]:
    options = ""
    if cur.peek() == "(":
        while not cur.done and cur.peek() != ")":
            options += cur.peek() + " "
            cur.skip()
        cur.skip()
    target = cur.peek()
    cur.skip()
    concurrently = cur.accept("CONCURRENTLY") or "CONCURRENTLY" in options
    return [Op(K.REINDEX, cur.name(), concurrently=concurrently, detail={"object": target})]


def _vacuum(cur: Cursor) -> list[Op]:
    words = cur.rest_words()
    full = "FULL" in words
    names = [
        t.text.lower()
        for t in cur.tokens[cur.i :]
        if t.text.upper()
        not in ("FULL", "FREEZE", "VERBOSE", "ANALYZE", "(", ")", ",", "TRUE", "ON")
    ]
    return [Op(K.VACUUM, names[0] if names else None, detail={"full": "yes" if full else ""})]


def _alter_other(cur: Cursor) -> list[Op]:
    obj = cur.peek()
    if cur.accept("TABLE") or cur.accept("FOREIGN", "TABLE"):
        return alter_table(cur)
    if cur.accept("TYPE"):
        name = cur.name()
        if cur.accept("ADD", "VALUE"):
            exists = cur.accept("IF", "NOT", "EXISTS")
            value = cur.string()
            position = cur.peek() if cur.peek() in ("BEFORE", "AFTER") else ""
            return [
                Op(K.ENUM_ADD_VALUE, name, value, if_exists=exists, detail={"position": position})
            ]
        if cur.accept("RENAME", "VALUE"):
            return [Op(K.RENAME_OBJECT, name, cur.string(), detail={"object": "ENUM VALUE"})]
        if cur.accept("RENAME", "TO"):
            return [Op(K.RENAME_OBJECT, name, cur.name(), detail={"object": "TYPE"})]
        if cur.accept("SET", "SCHEMA"):
            return [Op(K.SET_SCHEMA, name, cur.name(), detail={"object": "TYPE"})]
        return [Op(K.HARMLESS, name, detail={"object": "TYPE"})]
    if cur.accept("DOMAIN"):
        name = cur.name()
        if cur.accept("ADD"):
            words = cur.rest_words()
            return [
                Op(
                    K.ALTER_DOMAIN_ADD_CONSTRAINT,
                    name,
                    not_valid="NOT" in words and "VALID" in words,
                )
            ]
        return [Op(K.OTHER_TABLE_ALTER, name, detail={"object": "DOMAIN"})]
    cur.skip()
    if obj == "MATERIALIZED":
        cur.accept("VIEW")
    cur.accept("IF", "EXISTS")
    name = cur.name()
    if obj in ("FUNCTION", "PROCEDURE", "AGGREGATE", "ROUTINE") and cur.peek() == "(":
        cur.skip_parens()  # the argument types that pick the overload
    if cur.accept("RENAME", "TO"):
        return [Op(K.RENAME_OBJECT, name, cur.name(), detail={"object": obj})]
    if cur.accept("SET", "SCHEMA"):
        return [Op(K.SET_SCHEMA, name, cur.name(), detail={"object": obj})]
    if obj in (
        "SEQUENCE",
        "EXTENSION",
        "SCHEMA",
        "FUNCTION",
        "VIEW",
        "INDEX",
        "POLICY",
        "ROLE",
        "MATERIALIZED",
        "PROCEDURE",
        "TRIGGER",
        "DATABASE",
        "SYSTEM",
        "DEFAULT",
        # cluster- or catalog-level objects: no table lock
        "USER",
        "GROUP",
        "TABLESPACE",
        "LANGUAGE",
        "COLLATION",
        "CONVERSION",
        "TEXT",
        "EVENT",
        "STATISTICS",
        "OPERATOR",
    ):
        return [Op(K.HARMLESS, name, detail={"object": obj})]
    return [Op(K.UNKNOWN, name, detail={"reason": f"ALTER {obj}"})]


def _create_other(cur: Cursor) -> list[Op]:
    cur.accept("OR", "REPLACE")
    unique = cur.accept("UNIQUE")
    if cur.accept("INDEX"):
        cur.skip_placeholders()  # {{ if … }}concurrently{{ end }}: a template decides
        concurrently = cur.accept("CONCURRENTLY")
        cur.skip_placeholders()
        exists = cur.accept("IF", "NOT", "EXISTS")
        if cur.peek() == "IF":  # CREATE INDEX IF EXISTS …: not PostgreSQL
            return [_syntax_error(cur)]
        name = "" if cur.peek() == "ON" else cur.name()
        if not cur.accept("ON"):
            return [_syntax_error(cur)]
        only = cur.accept("ONLY")
        return [
            Op(
                K.CREATE_INDEX,
                cur.name(),
                name,
                concurrently=concurrently,
                if_exists=exists,
                unique=unique,
                detail={"only": "yes"} if only else {},
            )
        ]
    if cur.accept("MATERIALIZED", "VIEW"):
        cur.accept("IF", "NOT", "EXISTS")
        return [Op(K.CREATE_MATVIEW, cur.name())]
    if cur.accept("DOMAIN"):
        name = cur.name()
        words = cur.rest_words()
        return [Op(K.CREATE_DOMAIN, name, detail={"check": "yes" if "CHECK" in words else ""})]
    if cur.peek() in ("FUNCTION", "PROCEDURE"):
        cur.skip()
        return [Op(K.CREATE_FUNCTION, None, cur.name())]
    cur.accept("CONSTRAINT")
    if cur.accept("TRIGGER"):
        name = cur.name()
        words = cur.rest_words()
        table = ""
        if "ON" in words:
            table = Cursor(cur.tokens[cur.i + words.index("ON") + 1 :]).name()
        return [Op(K.CREATE_TRIGGER, table, name)]
    if cur.peek() in (
        "EXTENSION",
        "POLICY",
        "SCHEMA",
        "SEQUENCE",
        "TYPE",
        "ROLE",
        "VIEW",
        "CAST",
        "COLLATION",
        "AGGREGATE",
        "OPERATOR",
        "RULE",
        "STATISTICS",
        "PUBLICATION",
        "SUBSCRIPTION",
        "SERVER",
        "TEXT",
        "EVENT",
        "LANGUAGE",
        "TEMP",
        "TEMPORARY",
        "RECURSIVE",
        "USER",
    ):
        obj = cur.peek()
        cur.skip()
        cur.accept("IF", "NOT", "EXISTS")
        return [Op(K.HARMLESS, cur.name(), detail={"object": obj, "created": "yes"})]
    return [Op(K.UNKNOWN, detail={"reason": "CREATE " + cur.peek()})]


def _drop_index(cur: Cursor) -> list[Op]:
    """``DROP INDEX [CONCURRENTLY] [IF EXISTS] name [, …] [CASCADE | RESTRICT]``, exactly."""
    concurrently = cur.accept("CONCURRENTLY")
    exists = cur.accept("IF", "EXISTS")
    names = [cur.name()]
    while cur.accept(","):
        names.append(cur.name())
    cascade = cur.accept("CASCADE")
    cur.accept("RESTRICT")
    ops = [Op(K.DROP_INDEX, None, n, concurrently=concurrently, if_exists=exists, cascade=cascade)
           for n in names]  # fmt: skip
    if not cur.done or not all(names):
        near = cur.tokens[cur.i].text if not cur.done else "end of statement"
        ops[0].detail["syntax_error"] = f"syntax error at or near {near!r}"
    return ops


def _drop_other(cur: Cursor) -> list[Op]:
    obj = cur.peek()
    cur.skip()
    if obj == "MATERIALIZED":
        cur.accept("VIEW")
        obj = "MATERIALIZED VIEW"
    if obj == "INDEX":
        return _drop_index(cur)
    for second in _TWO_WORD_OBJECTS.get(obj, ()):
        if cur.accept(*second.split()):
            obj = f"{obj} {second}"
            break
    if obj not in _STRICT_DROPS:  # forms not read word for word (USER MAPPING FOR …, CAST …)
        exists = cur.accept("IF", "EXISTS")
        name = cur.name()
        cascade = "CASCADE" in cur.rest_words()
        return [Op(K.DROP, name, name, if_exists=exists, cascade=cascade, detail={"object": obj})]
    exists = cur.accept("IF", "EXISTS")
    if obj in ("POLICY", "RULE", "TRIGGER"):
        name = cur.name()
        if not cur.accept("ON"):
            return [_syntax_error(cur)]
        # the op targets the table (whose lock it takes: ACCESS EXCLUSIVE); the name is its name
        table = cur.name()
        cascade = _drop_behaviour(cur)
        detail = {"object": obj, "on": "yes"}
        ops = [Op(K.DROP, table, name, if_exists=exists, cascade=cascade, detail=detail)]
        return ops if cur.done and name and table else [_syntax_error(cur)]
    # DROP obj [IF EXISTS] name [(argument types)] [, …] [CASCADE | RESTRICT], exactly
    names = []
    while True:
        names.append(cur.name())
        if cur.peek() == "(" and obj in _ROUTINES:
            cur.skip_parens()
        if not cur.accept(","):
            break
    cascade = _drop_behaviour(cur)
    if obj == "DATABASE":  # DROP DATABASE d [WITH] (FORCE)
        cur.accept("WITH")
        if cur.peek() == "(":
            cur.skip_parens()
    if not cur.done or not all(names):
        return [_syntax_error(cur)]
    detail = {"object": obj}
    return [Op(K.DROP, n, n, if_exists=exists, cascade=cascade, detail=dict(detail)) for n in names]


_ROUTINES = ("FUNCTION", "PROCEDURE", "AGGREGATE", "ROUTINE")
_TWO_WORD_OBJECTS = {
    "EVENT": ("TRIGGER",),
    "USER": ("MAPPING",),
    "OPERATOR": ("CLASS", "FAMILY"),
    "FOREIGN": ("TABLE", "DATA WRAPPER"),
    "ACCESS": ("METHOD",),
    "TEXT": ("SEARCH CONFIGURATION", "SEARCH DICTIONARY", "SEARCH PARSER", "SEARCH TEMPLATE"),
}
# DROP forms read word for word: name [, name …] [CASCADE | RESTRICT] (routines with their
# argument types, DATABASE with WITH (FORCE)); any other word is a syntax error
_STRICT_DROPS = frozenset(
    {
        "TABLE", "VIEW", "MATERIALIZED VIEW", "SEQUENCE", "TYPE", "DOMAIN", "SCHEMA",
        "EXTENSION", "COLLATION", "CONVERSION", "EVENT TRIGGER", "FOREIGN TABLE",
        "ROLE", "USER", "GROUP", "DATABASE", "SERVER", "PUBLICATION", "STATISTICS",
        "POLICY", "RULE", "TRIGGER", *_ROUTINES,
    }
)  # fmt: skip


def _drop_behaviour(cur: Cursor) -> bool:
    """Consume a trailing CASCADE / RESTRICT; True for CASCADE."""
    if cur.accept("CASCADE"):
        return True
    cur.accept("RESTRICT")
    return False


def _syntax_error(cur: Cursor) -> Op:
    near = cur.tokens[cur.i].text if not cur.done else "end of statement"
    return Op(K.UNKNOWN, detail={"syntax_error": f"syntax error at or near {near!r}"})


def _set(cur: Cursor) -> list[Op]:
    local = cur.accept("LOCAL")
    cur.accept("SESSION")
    if cur.peek() in ("TRANSACTION", "CHARACTERISTICS", "CONSTRAINTS", "ROLE"):
        return [Op(K.HARMLESS, detail={"object": "SET " + cur.peek()})]
    name = cur.name()
    cur.accept("TO") or cur.accept("=")
    value = " ".join(t.text for t in cur.tokens[cur.i :]).lower()
    return [Op(K.SET, name=name, detail={"value": value, "local": "yes" if local else ""})]


def classify(tokens: list[Token]) -> list[Op]:
    cur = Cursor(tokens)
    if cur.accept("START", "TRANSACTION") or cur.accept("BEGIN"):
        return [Op(K.BEGIN)]
    if cur.accept("COMMIT", "PREPARED") or cur.accept("ROLLBACK", "PREPARED"):
        return [Op(K.UNKNOWN, detail={"reason": "two-phase commit"})]
    if cur.peek() in ("COMMIT", "END"):
        return [Op(K.COMMIT)]
    if cur.peek() in ("SAVEPOINT", "RELEASE") or cur.accept("ROLLBACK", "TO"):
        return [Op(K.SAVEPOINT)]
    if cur.peek() in ("ROLLBACK", "ABORT"):
        return [Op(K.ROLLBACK)]
    if cur.accept("ALTER"):
        return _alter_other(cur)
    if cur.accept("CREATE"):
        return _create_other(cur)
    if cur.accept("DROP"):
        return _drop_other(cur)
    if cur.accept("REINDEX"):
        return _reindex(cur)
    if cur.accept("VACUUM"):
        return _vacuum(cur)
    if cur.accept("CLUSTER"):
        cur.accept("VERBOSE")
        return [Op(K.CLUSTER, cur.name() if not cur.done else None)]
    if cur.accept("LOCK"):
        return _lock(cur)
    if cur.accept("REFRESH", "MATERIALIZED", "VIEW"):
        concurrently = cur.accept("CONCURRENTLY")
        return [Op(K.REFRESH_MATVIEW, cur.name(), concurrently=concurrently)]
    if cur.accept("SET"):
        return _set(cur)
    if cur.accept("RESET"):
        return [Op(K.SET, name=cur.name(), detail={"value": "default"})]
    if cur.accept("DO"):
        return [Op(K.DO)]
    if cur.accept("TRUNCATE"):
        cur.accept("TABLE")
        cur.accept("ONLY")
        return [Op(K.TRUNCATE, cur.name(), cascade="CASCADE" in cur.rest_words())]
    if cur.peek() in _HARMLESS_FIRST or cur.accept("SELECT"):
        return [Op(K.HARMLESS)]
    first = " ".join(cur.rest_words()[:2])
    return [Op(K.UNKNOWN, detail={"reason": f"statement starting with {first!r}"})]
