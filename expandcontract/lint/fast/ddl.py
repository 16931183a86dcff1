"""Fast recognition of the common table DDL: ALTER TABLE actions, CREATE TABLE, CREATE INDEX,
DROP INDEX / TABLE / VIEW …, giving the same IR ops as ``build.py`` gives from sqlglot."""

from __future__ import annotations

from expandcontract.lint.fast.cursor import Cursor, Decline
from expandcontract.lint.fast.values import column_type, default_expression, expression
from expandcontract.lint.ir import ColumnSpec, K, Op
from expandcontract.lint.lexer import KIND, PUNCT, UP

_SERIALS = ("serial", "bigserial", "smallserial")
_REFERENTIAL_ACTIONS = (("CASCADE",), ("RESTRICT",), ("NO", "ACTION"), ("SET", "NULL"))


def _references(cur: Cursor) -> str:
    """``REFERENCES table [(column)] [ON DELETE|UPDATE action]…``; the referenced table."""
    cur.expect("REFERENCES")
    table = cur.name()
    if cur.peek() == "(":
        cur.names_in_parens()
    while cur.accept("ON"):
        if not (cur.accept("DELETE") or cur.accept("UPDATE")):
            raise Decline("ON after REFERENCES")
        if not any(cur.accept(*action) for action in _REFERENTIAL_ACTIONS):
            raise Decline("referential action")
    return table


def _check(cur: Cursor) -> str:
    """``CHECK (expr)``; the column of a ``CHECK (column IS NOT NULL)``, else ''."""
    cur.expect("CHECK")
    start = cur.i
    cur.expect("(")
    expression(cur)
    cur.expect(")")
    inner = cur.tokens[start + 1 : cur.i - 1]
    if [t[UP] for t in inner[-3:]] != ["IS", "NOT", "NULL"]:
        return ""
    if len(inner) != 4:  # t.a / +a / f(a) IS NOT NULL: sqlglot's reading varies, let it decide
        raise Decline("CHECK (expression IS NOT NULL)")
    return Cursor(inner[:1]).name(1)


def column_definition(cur: Cursor) -> ColumnSpec:
    name = cur.name(1)
    ctype = column_type(cur)
    not_null = primary_key = volatile = False
    default: str | None = None
    references: str | None = None
    while not cur.done:
        word = cur.peek()
        if word in (",", ")"):
            break
        if word == "CONSTRAINT":
            cur.i += 1
            cur.name(1)
            word = cur.peek()
        if word == "NOT":
            cur.expect("NOT", "NULL")
            not_null = True
        elif word in ("NULL", "UNIQUE"):
            cur.i += 1
        elif word == "PRIMARY":
            cur.expect("PRIMARY", "KEY")
            primary_key = not_null = True
        elif word == "DEFAULT":
            cur.i += 1
            default, volatile = default_expression(cur)
        elif word == "REFERENCES":
            references = _references(cur)
        elif word == "CHECK":
            _check(cur)
        else:
            raise Decline("column constraint")
    return ColumnSpec(
        name=name,
        type=ctype,
        not_null=not_null,
        default=default,
        volatile_default=volatile,
        identity=ctype in _SERIALS,
        primary_key=primary_key,
        references=references,
    )


def _table_constraint(cur: Cursor) -> dict[str, str]:
    """A table constraint's IR detail (after an optional CONSTRAINT name)."""
    if cur.accept("PRIMARY", "KEY"):
        cur.names_in_parens()
        return {"type": "primary_key"}
    if cur.accept("UNIQUE"):
        cur.names_in_parens()
        return {"type": "unique"}
    if cur.accept("FOREIGN", "KEY"):
        cur.names_in_parens()
        return {"type": "foreign_key", "ref_table": _references(cur)}
    if cur.peek() == "CHECK":
        column = _check(cur)
        return {"type": "check", "not_null_column": column} if column else {"type": "check"}
    raise Decline("table constraint form")


def _alter_column(table: str, cur: Cursor) -> Op:
    column = ColumnSpec(cur.name(1))
    if cur.accept("TYPE") or cur.accept("SET", "DATA", "TYPE"):
        new_type = column_type(cur)
        using = cur.accept("USING")
        if using:
            expression(cur)
        return Op(
            K.ALTER_TYPE,
            table,
            column=column,
            detail={"new_type": new_type, "using": "yes" if using else ""},
        )
    if cur.accept("SET", "NOT", "NULL"):
        return Op(K.SET_NOT_NULL, table, column=column)
    if cur.accept("DROP", "NOT", "NULL"):
        return Op(K.DROP_NOT_NULL, table, column=column)
    if cur.accept("SET", "DEFAULT"):
        expression(cur)
        return Op(K.SET_DEFAULT, table, column=column)
    if cur.accept("DROP", "DEFAULT"):
        return Op(K.DROP_DEFAULT, table, column=column)
    raise Decline("ALTER COLUMN form")


def _add(table: str, cur: Cursor, not_valid: bool) -> Op:
    if cur.accept("CONSTRAINT"):
        name = cur.name(1)
        detail = _table_constraint(cur)
        return Op(K.ADD_CONSTRAINT, table, name, not_valid=not_valid, detail=detail)
    if cur.peek() in ("PRIMARY", "UNIQUE", "FOREIGN", "CHECK"):
        detail = _table_constraint(cur)
        return Op(K.ADD_CONSTRAINT, table, "", not_valid=not_valid, detail=detail)
    cur.accept("COLUMN")
    exists = cur.accept("IF", "NOT", "EXISTS")
    return Op(K.ADD_COLUMN, table, column=column_definition(cur), if_exists=exists)


def _drop(table: str, cur: Cursor) -> list[Op]:
    if cur.accept("CONSTRAINT"):
        kind = K.DROP_CONSTRAINT
    elif cur.accept("COLUMN"):
        kind = K.DROP_COLUMN
    else:
        raise Decline("DROP without COLUMN or CONSTRAINT")
    exists = cur.accept("IF", "EXISTS")
    name = cur.name(1)
    cascade = cur.accept("CASCADE")
    if not cascade:
        cur.accept("RESTRICT")
    column = ColumnSpec(name) if kind == K.DROP_COLUMN else None
    return [Op(kind, table, name, column=column, if_exists=exists, cascade=cascade)]


def _action(table: str, cur: Cursor, not_valid: bool) -> list[Op]:
    word = cur.peek()
    cur.i += 1
    if word == "ADD":
        return [_add(table, cur, not_valid)]
    if word == "DROP":
        return _drop(table, cur)
    if word == "ALTER":
        cur.accept("COLUMN")
        return [_alter_column(table, cur)]
    if word == "VALIDATE":
        cur.expect("CONSTRAINT")
        return [Op(K.VALIDATE_CONSTRAINT, table, cur.name(1))]
    if word == "RENAME":
        if cur.accept("TO"):
            return [Op(K.RENAME_TABLE, table, cur.name(1))]
        cur.accept("COLUMN")
        old = cur.name(1)
        cur.expect("TO")
        return [Op(K.RENAME_COLUMN, table, cur.name(1), column=ColumnSpec(old))]
    raise Decline("ALTER TABLE action")


def alter_table(cur: Cursor) -> list[Op]:
    """After ``ALTER TABLE``."""
    cur.accept("IF", "EXISTS")
    cur.accept("ONLY")
    table = cur.name()
    words = [t[UP] for t in cur.tokens[cur.i :]]
    not_valid = words[-2:] == ["NOT", "VALID"]
    if not_valid:
        cur.n -= 2  # the statement-level NOT VALID (sqlglot applies it to the statement)
    ops = _action(table, cur, not_valid)
    while cur.accept(","):
        if not_valid:
            raise Decline("NOT VALID with several actions")
        ops.extend(_action(table, cur, not_valid))
    cur.end()
    if len(ops) > 1 and not _same_family(ops):
        raise Decline("mixed ALTER TABLE actions")  # sqlglot misreads some combinations
    if not_valid and ops[0].kind != K.ADD_CONSTRAINT:
        raise Decline("NOT VALID on a non-constraint action")
    return ops


# Several actions in one ALTER TABLE are read only within one of these families (all checked
# pairwise against sqlglot in tests); a mix goes to sqlglot.
_FAMILIES = (
    frozenset({K.ADD_COLUMN}),
    frozenset({K.DROP_COLUMN}),
    frozenset({K.ALTER_TYPE, K.SET_NOT_NULL, K.DROP_NOT_NULL, K.SET_DEFAULT, K.DROP_DEFAULT}),
)


def _same_family(ops: list[Op]) -> bool:
    kinds = {op.kind for op in ops}
    return any(kinds <= family for family in _FAMILIES)


def _index_element(cur: Cursor) -> None:
    expression(cur, frozenset(("ASC", "DESC", "NULLS")))
    cur.accept("ASC") or cur.accept("DESC")
    if cur.accept("NULLS") and not (cur.accept("FIRST") or cur.accept("LAST")):
        raise Decline("NULLS form")


def create_index(cur: Cursor, unique: bool) -> list[Op]:
    """After ``CREATE [UNIQUE] INDEX``."""
    concurrently = cur.accept("CONCURRENTLY")
    exists = cur.accept("IF", "NOT", "EXISTS")
    name = cur.name(1)
    cur.expect("ON")
    table = cur.name()
    if cur.accept("USING"):
        cur.name(1)
    cur.expect("(")
    _index_element(cur)
    while cur.accept(","):
        _index_element(cur)
    cur.expect(")")
    if cur.accept("INCLUDE"):
        cur.names_in_parens()
    if cur.accept("WHERE"):
        expression(cur)
    cur.end()
    return [
        Op(
            K.CREATE_INDEX,
            table,
            name,
            concurrently=concurrently,
            if_exists=exists,
            unique=unique,
        )
    ]


def create_table(cur: Cursor) -> list[Op]:
    """After ``CREATE TABLE``."""
    exists = cur.accept("IF", "NOT", "EXISTS")
    table = cur.name()
    cur.expect("(")
    columns: list[ColumnSpec] = []
    while True:
        if cur.accept("CONSTRAINT"):
            cur.name(1)
            _table_constraint(cur)
        elif cur.peek() in ("PRIMARY", "UNIQUE", "FOREIGN", "CHECK"):
            _table_constraint(cur)
        else:
            columns.append(column_definition(cur))
        if not cur.accept(","):
            break
    cur.expect(")")
    cur.end()
    return [Op(K.CREATE_TABLE, table, if_exists=exists, columns=tuple(columns))]


_DROPPABLE = {"TABLE": "TABLE", "VIEW": "VIEW", "SEQUENCE": "SEQUENCE", "SCHEMA": "SCHEMA"}


def drop(cur: Cursor) -> list[Op]:
    """After ``DROP``."""
    if cur.accept("INDEX"):
        concurrently = cur.accept("CONCURRENTLY")
        exists = cur.accept("IF", "EXISTS")
        name = cur.name()
        cur.accept("CASCADE") or cur.accept("RESTRICT")
        cur.end()  # several names decline: sqlglot keeps only the first
        return [Op(K.DROP_INDEX, None, name, concurrently=concurrently, if_exists=exists)]
    if cur.accept("MATERIALIZED", "VIEW"):
        kind = "MATERIALIZED VIEW"
    elif cur.peek() in _DROPPABLE and cur.token()[KIND] != PUNCT:
        kind = _DROPPABLE[cur.peek()]
        cur.i += 1
    else:
        raise Decline("DROP object kind")
    exists = cur.accept("IF", "EXISTS")
    names = [cur.name(1 if kind == "SCHEMA" else 3)]
    while cur.accept(","):
        if kind not in ("TABLE", "VIEW", "MATERIALIZED VIEW"):
            raise Decline("several names")  # sqlglot keeps only the first of these
        names.append(cur.name())
    cascade = cur.accept("CASCADE")
    if not cascade:
        cur.accept("RESTRICT")
    cur.end()
    return [
        Op(K.DROP, n, n, if_exists=exists, cascade=cascade, detail={"object": kind}) for n in names
    ]
