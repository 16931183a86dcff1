"""Fill the IR from a parsed sqlglot tree. Anything not handled here returns None so the token
classifier (``classify.py``) gets its turn; nothing is silently dropped."""

from __future__ import annotations

from sqlglot import exp

from expandcontract.lint.ir import ColumnSpec, K, Op
from expandcontract.lint.volatility import is_volatile

_HARMLESS = (exp.Comment, exp.Grant, exp.Revoke, exp.Analyze, exp.Use)


def ident(node: exp.Expr | None) -> str:
    if node is None:
        return ""
    if isinstance(node, exp.Identifier):
        return node.name if node.quoted else node.name.lower()
    if isinstance(node, exp.Table | exp.Column):
        return ".".join(ident(p) for p in node.parts)
    if isinstance(node, exp.Schema):
        return ident(node.this)
    return node.name.lower()


def type_name(node: exp.Expr | None) -> str:
    return node.sql(dialect="postgres").lower() if node is not None else ""


def column_spec(col: exp.ColumnDef) -> ColumnSpec:
    not_null = primary_key = generated = identity = volatile = False
    default: str | None = None
    references: str | None = None
    for constraint in col.args.get("constraints") or []:
        kind = constraint.args.get("kind")
        if isinstance(kind, exp.NotNullColumnConstraint) and not kind.args.get("allow_null"):
            not_null = True
        elif isinstance(kind, exp.PrimaryKeyColumnConstraint):
            primary_key = not_null = True
        elif isinstance(kind, exp.DefaultColumnConstraint):
            default = kind.this.sql(dialect="postgres")
            volatile = is_volatile(kind.this)
        elif isinstance(kind, exp.ComputedColumnConstraint):
            generated = bool(kind.args.get("persisted", True))
        elif isinstance(kind, exp.GeneratedAsIdentityColumnConstraint):
            if kind.args.get("expression") is not None or kind.this is None:
                generated = True
            else:
                identity = True
        elif isinstance(kind, exp.Reference):
            references = ident(kind.this)
    ctype = type_name(col.args.get("kind"))
    return ColumnSpec(
        name=ident(col.this),
        type=ctype,
        not_null=not_null,
        default=default,
        volatile_default=volatile,
        generated_stored=generated,
        identity=identity or ctype in ("serial", "bigserial", "smallserial"),
        primary_key=primary_key,
        references=references,
    )


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
                cond = body.this
                if (
                    isinstance(cond, exp.Is)
                    and cond.args.get("negate")
                    and isinstance(cond.expression, exp.Null)
                    and isinstance(cond.this, exp.Column)
                ):
                    detail["not_null_column"] = ident(cond.this)
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


def _alter_column(table: str, action: exp.AlterColumn) -> Op:
    column = ColumnSpec(ident(action.this))
    if action.args.get("dtype") is not None:
        return Op(
            K.ALTER_TYPE,
            table,
            column=column,
            detail={
                "new_type": type_name(action.args["dtype"]),
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


def _alter_action(table: str, action: exp.Expr, alter: exp.Alter) -> list[Op]:
    not_valid = bool(alter.args.get("not_valid"))
    if isinstance(action, exp.ColumnDef):
        spec = column_spec(action)
        return [Op(K.ADD_COLUMN, table, column=spec, if_exists=bool(action.args.get("exists")))]
    if isinstance(action, exp.AlterColumn):
        return [_alter_column(table, action)]
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
            params = ", ".join(e.sql(dialect="postgres") for e in action.expressions)
            return [Op(K.SET_STORAGE, table, detail={"params": params.lower()})]
    return [Op(K.UNKNOWN, table, detail={"reason": f"ALTER TABLE action {type(action).__name__}"})]


def _alter(node: exp.Alter) -> list[Op]:
    kind = str(node.args.get("kind") or "").upper()
    target = ident(node.this)
    actions = node.args.get("actions") or []
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
        ops.extend(_alter_action(target, action, node))
    return ops


def _create(node: exp.Create) -> list[Op]:
    kind = str(node.args.get("kind") or "").upper()
    exists = bool(node.args.get("exists"))
    if kind == "INDEX":
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
        if isinstance(node.this, exp.Schema):
            columns = tuple(
                column_spec(c) for c in node.this.expressions if isinstance(c, exp.ColumnDef)
            )
        detail = {"as_select": "yes"} if node.args.get("expression") is not None else {}
        return [
            Op(K.CREATE_TABLE, ident(node.this), if_exists=exists, columns=columns, detail=detail)
        ]
    if kind == "TRIGGER":
        trigger = node.find(exp.TriggerProperties)
        target = ident(trigger.args.get("table")) if trigger else ""
        return [Op(K.CREATE_TRIGGER, target, ident(node.this), if_exists=exists)]
    if kind in ("FUNCTION", "PROCEDURE"):
        return [Op(K.CREATE_FUNCTION, None, ident(node.this.this if node.this else None))]
    return [
        Op(
            K.HARMLESS,
            ident(node.this),
            detail={"object": kind, "created": "yes"},
            if_exists=exists,
        )
    ]


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
    on = node.args.get("cluster")  # DROP TRIGGER t ON table: sqlglot keeps the table here
    if kind == "TRIGGER" and isinstance(on, exp.OnProperty):
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


def build_ops(node: exp.Expr) -> list[Op] | None:
    """IR ops for a parsed statement, or None when only the token classifier can tell."""
    if isinstance(node, exp.Alter):
        return _alter(node)
    if isinstance(node, exp.Create):
        return _create(node)
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
