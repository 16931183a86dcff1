"""Fill the IR from a parsed sqlglot tree. Anything not handled here returns None so the token
classifier (``classify.py``) gets its turn; nothing is silently dropped."""

from __future__ import annotations

import itertools

from sqlglot import exp

from expandcontract.lint.columns import Source, column_spec, ident
from expandcontract.lint.dialect import render
from expandcontract.lint.ir import ColumnSpec, K, Op
from expandcontract.lint.pgtypes import from_sqlglot

_HARMLESS = (exp.Comment, exp.Grant, exp.Revoke, exp.Analyze, exp.Use)


def _is_not_null(cond: exp.Expr | None) -> str | None:
    """The column of ``CHECK (col IS NOT NULL)``: sqlglot 30.10 reads it as
    ``Not(Is(col, Null))``, later versions as ``Is(col, Null, negate=True)``."""
    negated = False
    if isinstance(cond, exp.Not):
        cond, negated = cond.this, True
    if not isinstance(cond, exp.Is) or not isinstance(cond.expression, exp.Null):
        return None
    if negated == bool(cond.args.get("negate")) or not isinstance(cond.this, exp.Column):
        return None
    return ident(cond.this)


def _constraint_ops(table: str, action: exp.AddConstraint, not_valid: bool) -> list[Op]:
    ops: list[Op] = []
    for item in action.expressions:
        name = ident(item.this) if isinstance(item, exp.Constraint) else ""
        bodies = item.expressions if isinstance(item, exp.Constraint) else [item]
        for body in bodies:
            detail: dict[str, str] = {}
            if isinstance(body, exp.ForeignKey):
                ref = body.args.get("reference")
                detail = {"type": "foreign_key", "ref_table": ident(ref.this if ref else None)}
            elif isinstance(body, exp.CheckColumnConstraint):
                detail = {"type": "check"}
                column = _is_not_null(body.this)
                if column:
                    detail["not_null_column"] = column
            elif isinstance(body, exp.UniqueColumnConstraint):
                detail = {"type": "unique"}
            elif isinstance(body, exp.PrimaryKey | exp.PrimaryKeyColumnConstraint):
                detail = {"type": "primary_key"}
            elif isinstance(body, exp.ExcludeColumnConstraint):
                detail = {"type": "exclude"}
            else:
                detail = {"type": type(body).__name__.lower()}
            ops.append(Op(K.ADD_CONSTRAINT, table, name, not_valid=not_valid, detail=detail))
    return ops


def _alter_column(table: str, action: exp.AlterColumn, source: Source | None) -> Op:
    column = ColumnSpec(ident(action.this))
    dtype = action.args.get("dtype")
    if dtype is not None:
        written = _written_new_type(source, action) or render(dtype).lower()
        column = ColumnSpec(column.name, type=written, pgtype=from_sqlglot(dtype))
        return Op(
            K.ALTER_TYPE,
            table,
            column=column,
            detail={
                "new_type": written,
                "using": "yes" if isinstance(action.args.get("using"), exp.Expr) else "",
            },
        )
    if action.args.get("allow_null") is False:
        return Op(K.SET_NOT_NULL, table, column=column)
    if action.args.get("allow_null") is True and action.args.get("drop"):
        return Op(K.DROP_NOT_NULL, table, column=column)
    if action.args.get("drop"):
        return Op(K.DROP_DEFAULT, table, column=column)
    if action.args.get("default") is not None:
        return Op(K.SET_DEFAULT, table, column=column)
    return Op(K.UNKNOWN, table, column=column, detail={"reason": "ALTER COLUMN form"})


def _written_new_type(source: Source | None, action: exp.AlterColumn) -> str:
    """The type after ``TYPE`` in ``ALTER COLUMN c [SET DATA] TYPE …`` as the user wrote it."""
    start = action.this.meta.get("start") if action.this is not None else None
    at = source.index_at(start) if source is not None and start is not None else None
    if source is None or at is None:
        return ""
    for i in range(at + 1, min(at + 5, len(source.tokens))):
        if source.tokens[i].text.upper() == "TYPE":
            return " ".join(source.span(i + 1, _NEW_TYPE_ENDS).split())
    return ""


_NEW_TYPE_ENDS = frozenset({"USING", "COLLATE"})


def _alter_action(
    table: str, action: exp.Expr, alter: exp.Alter, source: Source | None
) -> list[Op]:
    not_valid = bool(alter.args.get("not_valid"))
    if isinstance(action, exp.ColumnDef):
        spec = column_spec(action, source)
        return [Op(K.ADD_COLUMN, table, column=spec, if_exists=bool(action.args.get("exists")))]
    if isinstance(action, exp.AlterColumn):
        return [_alter_column(table, action, source)]
    if isinstance(action, exp.AddConstraint):
        return _constraint_ops(table, action, not_valid)
    if isinstance(action, exp.RenameColumn):
        old, new = ident(action.this), ident(action.args.get("to"))
        return [Op(K.RENAME_COLUMN, table, new, column=ColumnSpec(old))]
    if isinstance(action, exp.AlterRename):
        # sqlglot reads "RENAME old TO new" (COLUMN omitted, as Alembic writes it) as a table
        # rename to "old" with a stray "TO new" option: recover the column rename
        to = [o for o in alter.args.get("options") or [] if isinstance(o, exp.ToTableProperty)]
        if to:
            old = ident(action.this)
            return [Op(K.RENAME_COLUMN, table, ident(to[0].this), column=ColumnSpec(old))]
        return [Op(K.RENAME_TABLE, table, ident(action.this))]
    if isinstance(action, exp.Drop):
        kind = str(action.args.get("kind") or "").upper()
        targets = action.args.get("tables") or [action.this]
        op_kind = K.DROP_COLUMN if kind == "COLUMN" else K.DROP_CONSTRAINT
        return [
            Op(
                op_kind,
                table,
                ident(t),
                column=ColumnSpec(ident(t)) if kind == "COLUMN" else None,
                if_exists=bool(action.args.get("exists")),
                cascade=bool(action.args.get("cascade")),
            )
            for t in targets
        ]
    if isinstance(action, exp.AlterSet):
        if action.args.get("tablespace") is not None:
            return [Op(K.SET_TABLESPACE, table, ident(action.args["tablespace"]))]
        option = action.args.get("option")
        if option is not None and option.name.upper() in ("LOGGED", "UNLOGGED"):
            return [Op(K.SET_LOGGED, table, detail={"mode": option.name.upper()})]
        if action.args.get("access_method") is not None:
            return [Op(K.SET_ACCESS_METHOD, table, ident(action.args["access_method"]))]
        if action.expressions:
            params = ", ".join(render(e) for e in action.expressions)
            return [Op(K.SET_STORAGE, table, detail={"params": params.lower()})]
    return [Op(K.UNKNOWN, table, detail={"reason": f"ALTER TABLE action {type(action).__name__}"})]


def _alter(node: exp.Alter, source: Source | None) -> list[Op]:
    kind = str(node.args.get("kind") or "").upper()
    target = ident(node.this)
    actions = node.args.get("actions") or []
    options = [o for o in node.args.get("options") or [] if not isinstance(o, exp.ToTableProperty)]
    if kind == "TABLE" and options:  # sqlglot parked words it could not place ("… SET DEFAULT 1")
        return [Op(K.UNKNOWN, target, detail={"reason": "ALTER TABLE words sqlglot did not place"})]
    if kind != "TABLE":
        if len(actions) == 1 and isinstance(actions[0], exp.AlterRename):
            return [Op(K.RENAME_OBJECT, target, ident(actions[0].this), detail={"object": kind})]
        return [
            Op(
                K.HARMLESS if kind in ("VIEW", "INDEX") else K.UNKNOWN,
                target,
                detail={"object": kind, "reason": f"ALTER {kind}"},
            )
        ]
    ops: list[Op] = []
    for action in actions:
        ops.extend(_alter_action(target, action, node, source))
    return ops


def _create(node: exp.Create, source: Source | None) -> list[Op]:
    kind = str(node.args.get("kind") or "").upper()
    exists = bool(node.args.get("exists"))
    if kind == "INDEX":
        if source is not None and _if_exists_in_create(source):
            # CREATE INDEX … IF EXISTS is not PostgreSQL (some sqlglot versions accept it)
            return [Op(K.UNKNOWN, detail={"syntax_error": "syntax error at or near 'IF'"})]
        index = node.this
        table = ident(index.args.get("table")) if isinstance(index, exp.Index) else ""
        name = ident(index.this) if isinstance(index, exp.Index) else ""
        return [
            Op(
                K.CREATE_INDEX,
                table,
                name,
                concurrently=bool(node.args.get("concurrently")),
                if_exists=exists,
                unique=bool(node.args.get("unique")),
            )
        ]
    if kind == "TABLE":
        columns: tuple[ColumnSpec, ...] = ()
        refs: list[str] = []
        if isinstance(node.this, exp.Schema):
            elements = node.this.expressions
            columns = tuple(
                column_spec(c, source) for c in elements if isinstance(c, exp.ColumnDef)
            )
            refs = [c.references for c in columns if c.references]
            for fk in node.this.find_all(exp.ForeignKey):
                ref = fk.args.get("reference")
                if ref is not None:
                    refs.append(ident(ref.this))
        detail = {"as_select": "yes"} if node.args.get("expression") is not None else {}
        if refs:  # SHARE ROW EXCLUSIVE on each referenced table
            detail["ref_tables"] = ",".join(dict.fromkeys(refs))
        named = [ident(c.this) for c in node.this.find_all(exp.Constraint, exp.ColumnConstraint)]
        if any(named):  # table and column constraints that name themselves
            detail["constraint_names"] = ",".join(n for n in named if n)
        return [
            Op(K.CREATE_TABLE, ident(node.this), if_exists=exists, columns=columns, detail=detail)
        ]
    if kind == "TRIGGER":
        trigger = node.find(exp.TriggerProperties)
        target = ident(trigger.args.get("table")) if trigger else ""
        return [Op(K.CREATE_TRIGGER, target, ident(node.this), if_exists=exists)]
    if kind in ("FUNCTION", "PROCEDURE"):
        return [Op(K.CREATE_FUNCTION, None, ident(node.this.this if node.this else None))]
    detail = {"object": kind, "created": "yes"}
    if node.args.get("replace"):  # CREATE OR REPLACE VIEW takes ACCESS EXCLUSIVE on the view
        detail["replace"] = "yes"
    return [Op(K.HARMLESS, ident(node.this), detail=detail, if_exists=exists)]


def _if_exists_in_create(source: Source) -> bool:
    words = [t.text.upper() for t in source.tokens[:8]]
    return any(pair == ("IF", "EXISTS") for pair in itertools.pairwise(words))


def _drop(node: exp.Drop) -> list[Op]:
    kind = str(node.args.get("kind") or "").upper()
    if node.args.get("materialized"):
        kind = "MATERIALIZED VIEW"
    targets = node.args.get("tables") or [node.this]
    exists, cascade = bool(node.args.get("exists")), bool(node.args.get("cascade"))
    if kind == "INDEX":
        return [
            Op(
                K.DROP_INDEX,
                None,
                ident(t),
                concurrently=bool(node.args.get("concurrently")),
                if_exists=exists,
            )
            for t in targets
        ]
    on = node.args.get("cluster")  # DROP TRIGGER/POLICY/RULE x ON table: the table is here
    if kind in ("TRIGGER", "POLICY", "RULE") and isinstance(on, exp.OnProperty):
        # the op targets the table (whose lock it takes); the trigger is its name
        detail = {"object": kind, "on": "yes"}
        table, name = ident(on.this), ident(targets[0])
        return [Op(K.DROP, table, name, if_exists=exists, cascade=cascade, detail=detail)]
    return [
        Op(K.DROP, ident(t), ident(t), if_exists=exists, cascade=cascade, detail={"object": kind})
        for t in targets
    ]


def _set(node: exp.Set) -> list[Op] | None:
    ops: list[Op] = []
    for item in node.expressions:
        eq = item.this if isinstance(item, exp.SetItem) else None
        if not isinstance(eq, exp.EQ):
            return None
        value = eq.expression.name if eq.expression is not None else ""
        local = str(item.args.get("kind") or "").upper() == "LOCAL"
        ops.append(
            Op(
                K.SET,
                name=ident(eq.this),
                detail={"value": value.lower(), "local": "yes" if local else ""},
            )
        )
    return ops


def _select(node: exp.Select) -> list[Op]:
    ops = [Op(K.SELECT)]
    for call in node.find_all(exp.Anonymous):
        # set_config('lock_timeout', '1s', is_local) is how some tools set timeouts
        if str(call.this).lower() == "set_config" and len(call.expressions) >= 2:
            name, value = call.expressions[0], call.expressions[1]
            if isinstance(name, exp.Literal) and isinstance(value, exp.Literal):
                ops.append(Op(K.SET, name=name.name.lower(), detail={"value": value.name.lower()}))
    return ops


def build_ops(node: exp.Expr, source: Source | None = None) -> list[Op] | None:
    """IR ops for a parsed statement, or None when only the token classifier can tell."""
    if isinstance(node, exp.Alter):
        return _alter(node, source)
    if isinstance(node, exp.Create):
        return _create(node, source)
    if isinstance(node, exp.Drop):
        return _drop(node)
    if isinstance(node, exp.TruncateTable):
        option = str(node.args.get("option") or "").upper()
        return [Op(K.TRUNCATE, ident(t), cascade=option == "CASCADE") for t in node.expressions]
    if isinstance(node, exp.Set):
        return _set(node)
    if isinstance(node, exp.Transaction):
        return [Op(K.BEGIN)]
    if isinstance(node, exp.Commit):
        return [Op(K.COMMIT)]
    if isinstance(node, exp.Rollback):
        return [Op(K.ROLLBACK)]
    if isinstance(node, exp.Update | exp.Delete):
        kind = K.UPDATE if isinstance(node, exp.Update) else K.DELETE
        table = node.this
        return [
            Op(
                kind,
                ident(table),
                has_where=node.args.get("where") is not None,
                detail=_assignments(node),
            )
        ]
    if isinstance(node, exp.Insert):
        return [
            Op(
                K.INSERT,
                ident(node.find(exp.Table)),
                detail={"select": "yes" if node.find(exp.Select) else ""},
            )
        ]
    if isinstance(node, exp.Select | exp.Union):
        return _select(node) if isinstance(node, exp.Select) else [Op(K.SELECT)]
    if isinstance(node, _HARMLESS):
        return [Op(K.HARMLESS)]
    return None


def _assignments(node: exp.Expr) -> dict[str, str]:
    if not isinstance(node, exp.Update):
        return {}
    names = [ident(e.this) for e in node.expressions if isinstance(e, exp.EQ)]
    dupes = sorted({n for n in names if names.count(n) > 1})
    return {"duplicate_assignments": ",".join(dupes)} if dupes else {}
