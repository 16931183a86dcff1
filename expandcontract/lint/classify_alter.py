"""Token classifier for ``ALTER TABLE`` actions sqlglot leaves opaque (VALIDATE CONSTRAINT,
USING INDEX, ATTACH/DETACH PARTITION, multi-constraint NOT VALID, identity, …)."""

from __future__ import annotations

from sqlglot.tokenizer_core import Token

from expandcontract.lint.ir import ColumnSpec, K, Op
from expandcontract.lint.pgtypes import from_text
from expandcontract.lint.tokens import Cursor

_OTHER_ALTER = {
    "OWNER",
    "INHERIT",
    "NO",
    "CLUSTER",
    "ALTER CONSTRAINT",
    "ENABLE",
    "DISABLE",
    "FORCE",
    "OF",
    "NOT",
    "RESET",
}


def _add_constraint(table: str, cur: Cursor) -> Op:
    name = cur.name() if cur.accept("CONSTRAINT") else ""
    words = cur.rest_words()
    not_valid = "NOT" in words and "VALID" in words and words.index("VALID") > 0
    using_index = "USING" in words and "INDEX" in words
    detail: dict[str, str] = {}
    if cur.peek() == "UNIQUE":
        detail["type"] = "unique"
    elif cur.accept("PRIMARY", "KEY"):
        detail["type"] = "primary_key"
    elif cur.peek() == "FOREIGN":
        detail["type"] = "foreign_key"
        if "REFERENCES" in words:
            ref = Cursor(cur.tokens[cur.i + words.index("REFERENCES") + 1 :])
            detail["ref_table"] = ref.name()
    elif cur.peek() == "CHECK":
        detail["type"] = "check"
        if words[1:2] == ["("] and words[3:7] == ["IS", "NOT", "NULL", ")"]:
            detail["not_null_column"] = Cursor(cur.tokens[cur.i + 2 :]).name()
    elif cur.accept("NOT", "NULL"):
        detail = {"type": "not_null", "not_null_column": cur.name()}
    elif cur.peek() == "EXCLUDE":
        detail["type"] = "exclude"
    else:
        detail["type"] = "other"
    return Op(
        K.ADD_CONSTRAINT, table, name, not_valid=not_valid, using_index=using_index, detail=detail
    )


def _alter_column(table: str, cur: Cursor) -> Op:
    column = ColumnSpec(cur.name())
    if cur.accept("TYPE") or cur.accept("SET", "DATA", "TYPE"):
        words = cur.rest_words()
        if any(w in _ACTION_WORDS for w in words):  # "TYPE bigint ALTER COLUMN b …": no comma
            return Op(K.ALTER_TYPE, table, column=column, detail={"syntax_error": (
                f"syntax error at or near {next(w for w in words if w in _ACTION_WORDS)!r} "
                "(missing comma?)")})  # fmt: skip
        end = next((i for i, w in enumerate(words) if w in ("USING", "COLLATE")), len(words))
        written = " ".join(t.text for t in cur.tokens[cur.i : cur.i + end])
        column = ColumnSpec(column.name, type=written, pgtype=from_text(written))
        using = "yes" if end < len(words) and words[end] == "USING" else ""
        return Op(K.ALTER_TYPE, table, column=column, detail={"new_type": written, "using": using})
    if cur.accept("SET", "NOT", "NULL"):
        return Op(K.SET_NOT_NULL, table, column=column)
    if cur.accept("DROP", "NOT", "NULL"):
        return Op(K.DROP_NOT_NULL, table, column=column)
    if cur.accept("SET", "DEFAULT"):
        return Op(K.SET_DEFAULT, table, column=column)
    if cur.accept("DROP", "DEFAULT"):
        return Op(K.DROP_DEFAULT, table, column=column)
    if cur.accept("DROP", "EXPRESSION"):
        return Op(K.DROP_EXPRESSION, table, column=column)
    words = cur.rest_words()
    if "IDENTITY" in words or "GENERATED" in words or (words and words[0] == "RESTART"):
        return Op(K.ALTER_IDENTITY, table, column=column, detail={"action": " ".join(words[:2])})
    if words[:2] in (["SET", "STATISTICS"], ["SET", "STORAGE"], ["SET", "COMPRESSION"]) or words[
        :1
    ] in (["SET"], ["RESET"]):
        return Op(K.OTHER_TABLE_ALTER, table, column=column, detail={"action": " ".join(words)})
    return Op(K.UNKNOWN, table, column=column, detail={"reason": "ALTER COLUMN form"})


def _action(table: str, cur: Cursor) -> Op:
    if cur.accept("VALIDATE", "CONSTRAINT"):
        return Op(K.VALIDATE_CONSTRAINT, table, cur.name())
    if cur.accept("ADD"):
        if cur.peek() in ("CONSTRAINT", "UNIQUE", "PRIMARY", "FOREIGN", "CHECK", "EXCLUDE"):
            return _add_constraint(table, cur)
        if cur.peek() == "NOT" and cur.peek(1) == "NULL":
            return _add_constraint(table, cur)
        cur.accept("COLUMN")
        cur.accept("IF", "NOT", "EXISTS")
        return Op(K.UNKNOWN, table, column=ColumnSpec(cur.name()), detail={"reason": "ADD COLUMN"})
    if cur.accept("ATTACH", "PARTITION"):
        return Op(
            K.ATTACH_PARTITION,
            table,
            cur.name(),
            detail={"default": "yes" if "DEFAULT" in cur.rest_words() else ""},
        )
    if cur.accept("DETACH", "PARTITION"):
        name = cur.name()
        words = cur.rest_words()
        return Op(
            K.DETACH_PARTITION,
            table,
            name,
            concurrently="CONCURRENTLY" in words,
            detail={"finalize": "yes" if "FINALIZE" in words else ""},
        )
    if cur.accept("REPLICA", "IDENTITY"):
        return Op(K.REPLICA_IDENTITY, table, detail={"mode": " ".join(cur.rest_words())})
    if cur.accept("SET", "SCHEMA"):
        return Op(K.SET_SCHEMA, table, cur.name())
    if cur.accept("SET", "TABLESPACE"):
        return Op(K.SET_TABLESPACE, table, cur.name())
    if cur.accept("SET", "LOGGED") or cur.accept("SET", "UNLOGGED"):
        return Op(K.SET_LOGGED, table, detail={"mode": cur.tokens[cur.i - 1].text.upper()})
    if cur.accept("SET", "ACCESS", "METHOD"):
        return Op(K.SET_ACCESS_METHOD, table, cur.name())
    if cur.accept("RENAME", "CONSTRAINT"):
        return Op(K.RENAME_OBJECT, table, cur.name(), detail={"object": "CONSTRAINT"})
    if cur.accept("RENAME", "TO"):
        return Op(K.RENAME_TABLE, table, cur.name())
    if cur.accept("RENAME"):
        cur.accept("COLUMN")
        old = cur.name()
        cur.accept("TO")
        return Op(K.RENAME_COLUMN, table, cur.name(), column=ColumnSpec(old))
    if cur.accept("ALTER"):
        if cur.peek() == "CONSTRAINT":
            return Op(K.OTHER_TABLE_ALTER, table, detail={"action": "ALTER CONSTRAINT"})
        cur.accept("COLUMN")
        return _alter_column(table, cur)
    if cur.accept("DROP"):
        if cur.accept("CONSTRAINT"):
            exists = cur.accept("IF", "EXISTS")
            return Op(K.DROP_CONSTRAINT, table, cur.name(), if_exists=exists)
        if cur.peek() in ("NOT", "DEFAULT") or cur.peek() in _OTHER_ALTER:
            return Op(K.UNKNOWN, table, detail={"reason": "ALTER TABLE action DROP " + cur.peek()})
        cur.accept("COLUMN")
        exists = cur.accept("IF", "EXISTS")
        col = cur.name()
        return Op(K.DROP_COLUMN, table, col, column=ColumnSpec(col), if_exists=exists)
    words = cur.rest_words()
    if words[:1] and (words[0] in _OTHER_ALTER or " ".join(words[:2]) in _OTHER_ALTER):
        mode = " ".join(words[:4])
        return Op(K.OTHER_TABLE_ALTER, table, detail={"action": mode})
    return Op(K.UNKNOWN, table, detail={"reason": "ALTER TABLE action " + " ".join(words[:3])})


# Actions read to their last token: anything after them is a syntax error (a missing comma).
_EXACT = {
    K.DROP_COLUMN,
    K.DROP_CONSTRAINT,
    K.VALIDATE_CONSTRAINT,
    K.RENAME_COLUMN,
    K.RENAME_TABLE,
    K.SET_SCHEMA,
    K.SET_TABLESPACE,
    K.SET_LOGGED,
    K.SET_NOT_NULL,
    K.DROP_NOT_NULL,
    K.DROP_DEFAULT,
}
_TRAILING = ("CASCADE", "RESTRICT")
# words that start an ALTER TABLE action: never inside a type or a USING expression's top level
_ACTION_WORDS = frozenset(
    {"ALTER", "ADD", "DROP", "RENAME", "VALIDATE", "OWNER", "ATTACH", "DETACH"}
)


def read_action(table: str, cur: Cursor) -> tuple[Op, str | None]:
    """One ``ALTER TABLE`` action and, when words follow a complete action, the syntax error."""
    op = _action(table, cur)
    if "syntax_error" in op.detail:
        return op, op.detail.pop("syntax_error")
    if op.kind in _EXACT:
        if cur.peek() in _TRAILING:
            op.cascade = cur.peek() == "CASCADE"
            cur.skip()
        if not cur.done:
            return op, f"syntax error at or near {cur.tokens[cur.i].text!r} (missing comma?)"
    return op, None


def table_header(tokens: list[Token]) -> tuple[int, str] | None:
    """(tokens in ``ALTER TABLE [IF EXISTS] [ONLY] name [*]``, the table) or None."""
    if not tokens or tokens[0].text.upper() != "ALTER":  # most statements: no cursor needed
        return None
    cur = Cursor(tokens)
    if not (cur.accept("ALTER", "TABLE") or cur.accept("ALTER", "FOREIGN", "TABLE")):
        return None
    cur.accept("IF", "EXISTS")
    cur.accept("ONLY")
    table = cur.name()
    cur.accept("*")
    if cur.done or cur.peek() in ("ALL", "IN"):  # ALTER TABLE ALL IN TABLESPACE …
        return None
    return cur.i, table


def alter_table(cur: Cursor) -> list[Op]:
    """``cur`` positioned after ``ALTER TABLE``."""
    cur.accept("IF", "EXISTS")
    cur.accept("ONLY")
    table = cur.name()
    cur.accept("*")
    ops: list[Op] = []
    for action in cur.split_actions():
        op, error = read_action(table, action)
        if error:
            op.detail["syntax_error"] = error
        ops.append(op)
    return ops
