"""The operations ``ec.safe_ops`` refuses because no lock-safe form of them exists in place:
they rewrite the table under an ACCESS EXCLUSIVE lock, or break the app version that is
still running. Each refusal names the ec operation that does the same in expand/contract
steps (``op.expand_contract``) and the ``ec_allow`` name that lifts it for one revision."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic.operations import ops
from alembic.util import CommandError
from psycopg import sql
from sqlalchemy.sql.sqltypes import to_instance

from expandcontract.alembic.safe_config import RevisionOptOut
from expandcontract.errors import ECError


class UnsafeOperation(ECError, CommandError):
    """An operation ec.safe_ops will not run (Alembic's CLI prints it as ``FAILED: …``)."""


TableKey = tuple[str | None, str]


@dataclasses.dataclass
class CheckScope:
    """What the checks know about the revision being run."""

    where: str  # "revision 0002 (alembic/versions/0002.py)"
    direction: str  # "upgrade" | "downgrade"
    opt_out: RevisionOptOut
    dialect: Any
    # (schema, table, column) -> format_type() of the column now, None when there is no such
    # column; None when no database can be asked (offline).
    column_type: Callable[[str | None, str, str], str | None] | None = None
    server_version: int | None = None  # server_version_num, None offline
    in_transaction: bool = True
    created: set[TableKey] = dataclasses.field(default_factory=set)
    # what a refusal can promise: checked op by op (no dry run), only the open transaction
    # rolls back
    outcome: str = "Nothing of this revision was run."

    def is_new(self, schema: str | None, table: str) -> bool:
        """Created earlier in this revision: no running app uses it yet."""
        return (schema, table) in self.created or (None, table) in self.created


def check(operation: ops.MigrateOperation, scope: CheckScope) -> None:
    """Raise UnsafeOperation for an operation that cannot be made safe in place."""
    if isinstance(operation, ops.CreateTableOp):
        scope.created.add((operation.schema, operation.table_name))
    elif isinstance(operation, ops.DropColumnOp):
        _check_drop_column(operation, scope)
    elif isinstance(operation, ops.DropTableOp):
        _check_drop_table(operation, scope)
    elif isinstance(operation, ops.AddConstraintOp) and operation.constraint_type == "exclude":
        _check_exclude_constraint(operation, scope)
    elif isinstance(operation, ops.AlterColumnOp):
        _check_alter_column(operation, scope)
    elif isinstance(operation, ops.AddColumnOp):
        _check_add_column(operation, scope)
    elif isinstance(operation, ops.RenameTableOp):
        _check_rename_table(operation, scope)
    elif isinstance(operation, ops.ExecuteSQLOp):
        _check_execute(operation, scope)


def _refuse(
    scope: CheckScope, allow: str, call: str, why: str, ec_op: str, example: dict[str, Any]
) -> UnsafeOperation:
    return UnsafeOperation(
        f"{call} in {scope.where} is refused by ec.safe_ops: {why}. {scope.outcome} "
        f"Use op.expand_contract with ec's {ec_op} operation, which keeps both app "
        f"versions working, e.g. op.expand_contract({json.dumps([example])})",
        f'or, if no running app uses it, allow it in this revision: ec_allow = {{"{allow}"}} '
        "(ec_safe_ops = False turns safe ops off for the whole revision); see docs/alembic.md",
    )


def _name(schema: str | None, table: str, column: str | None = None) -> str:
    return ".".join(p for p in (schema, table, column) if p)


def _check_drop_column(operation: ops.DropColumnOp, scope: CheckScope) -> None:
    # downgrade() undoes this revision once the app that used the column is rolled back
    if scope.direction == "downgrade" or scope.is_new(operation.schema, operation.table_name):
        return
    if scope.opt_out.allows("drop_column"):
        return
    column = _name(operation.schema, operation.table_name, operation.column_name)
    raise _refuse(
        scope, "drop_column", f"op.drop_column({operation.table_name!r}, "
        f"{operation.column_name!r})",
        f"the running app still reads and writes {column}, its queries fail the moment the "
        "column is gone", "drop_column",
        {"drop_column": {"table": operation.table_name, "column": operation.column_name,
                         "down": "NULL"}},
    )  # fmt: skip


def _check_drop_table(operation: ops.DropTableOp, scope: CheckScope) -> None:
    if scope.direction == "downgrade" or scope.is_new(operation.schema, operation.table_name):
        return
    if scope.opt_out.allows("drop_table"):
        return
    raise _refuse(
        scope, "drop_table", f"op.drop_table({operation.table_name!r})",
        f"the running app still reads and writes {_name(operation.schema, operation.table_name)}"
        ", its queries fail the moment the table is gone", "drop_table",
        {"drop_table": {"name": operation.table_name}},
    )  # fmt: skip


def _check_exclude_constraint(operation: ops.AddConstraintOp, scope: CheckScope) -> None:
    table = str(getattr(operation, "table_name", ""))
    if scope.is_new(getattr(operation, "schema", None), table):
        return
    if scope.opt_out.allows("exclude_constraint"):
        return
    name = getattr(operation, "constraint_name", None)
    raise UnsafeOperation(
        f"op.create_exclude_constraint({name!r}, {table!r}, ...) in "
        f"{scope.where} is refused by ec.safe_ops: PostgreSQL cannot add an EXCLUDE constraint "
        "NOT VALID, so it builds its index and checks every row under an ACCESS EXCLUSIVE lock "
        f"that blocks the running app's reads and writes. {scope.outcome}",
        "create the table with the constraint in the revision that creates it, or, if the "
        'table is small or idle, allow it in this revision: ec_allow = {"exclude_constraint"} '
        "(ec_safe_ops = False turns safe ops off for the whole revision); see docs/alembic.md",
    )


def _check_rename_table(operation: ops.RenameTableOp, scope: CheckScope) -> None:
    if scope.is_new(operation.schema, operation.table_name) or scope.opt_out.allows("rename_table"):
        return
    raise _refuse(
        scope, "rename_table",
        f"op.rename_table({operation.table_name!r}, {operation.new_table_name!r})",
        f"the running app still uses the name {operation.table_name}", "rename_table",
        {"rename_table": {"from": operation.table_name, "to": operation.new_table_name}},
    )  # fmt: skip


def _check_alter_column(operation: ops.AlterColumnOp, scope: CheckScope) -> None:
    schema, table, column = operation.schema, operation.table_name, operation.column_name
    if scope.is_new(schema, table):
        return
    call = f"op.alter_column({table!r}, {column!r}, ...)"
    if operation.modify_name is not None and not scope.opt_out.allows("rename_column"):
        raise _refuse(
            scope, "rename_column", call,
            f"renaming {_name(schema, table, column)} to {operation.modify_name} breaks the "
            "running app, which still uses the old name", "rename_column",
            {"rename_column": {"table": table, "from": column, "to": operation.modify_name}},
        )  # fmt: skip
    if operation.modify_type is None or scope.opt_out.allows("alter_column_type"):
        return
    new = str(to_instance(operation.modify_type).compile(dialect=scope.dialect))
    example = {"alter_column": {"table": table, "column": column, "type": new.lower(),
                                "up": f"{column}::{new.lower()}", "down": "..."}}  # fmt: skip
    if "postgresql_using" in operation.kw:
        raise _refuse(
            scope, "alter_column_type", call,
            f"a type change with USING rewrites {table} under an ACCESS EXCLUSIVE lock",
            "alter_column", example,
        )  # fmt: skip
    old = _current_type(operation, scope)
    if old is None:
        raise _refuse(
            scope, "alter_column_type", call,
            f"ec cannot tell whether changing {_name(schema, table, column)} to {new} rewrites "
            "the table: offline ec knows the current type only from existing_type, so pass "
            "existing_type=",
            "alter_column", example,
        )  # fmt: skip
    if not type_change_is_safe(old, new):
        raise _refuse(
            scope, "alter_column_type", call,
            f"changing {_name(schema, table, column)} from {old} to {new} rewrites (or scans) "
            f"{table} under an ACCESS EXCLUSIVE lock, blocking all reads and writes",
            "alter_column", example,
        )  # fmt: skip


def _current_type(operation: ops.AlterColumnOp, scope: CheckScope) -> str | None:
    if scope.column_type is not None:
        current = scope.column_type(operation.schema, operation.table_name, operation.column_name)
        if current is not None:
            return current
    if operation.existing_type is not None:
        return str(to_instance(operation.existing_type).compile(dialect=scope.dialect))
    return None


def _check_add_column(operation: ops.AddColumnOp, scope: CheckScope) -> None:
    if scope.is_new(operation.schema, operation.table_name):
        return
    column, table = operation.column, operation.table_name
    call = f"op.add_column({table!r}, sa.Column({column.name!r}, ...))"
    example = {"add_column": {"table": table, "column": {
        "name": column.name, "type": str(column.type.compile(dialect=scope.dialect)).lower(),
        "nullable": bool(column.nullable)}, "up": "..."}}  # fmt: skip
    rewrite = _rewrite_reason(column, scope)
    if rewrite and not scope.opt_out.allows("add_column_rewrite"):
        raise _refuse(
            scope, "add_column_rewrite", call,
            f"{rewrite}: PostgreSQL rewrites {table} under an ACCESS EXCLUSIVE lock",
            "add_column", example,
        )  # fmt: skip
    if column.server_default is None and column.nullable is False:
        if scope.opt_out.allows("add_required_column"):
            return
        raise _refuse(
            scope, "add_required_column", call,
            f"a NOT NULL column without a server default fails on a table with rows, and the "
            f"running app's INSERTs into {table} do not set {column.name}", "add_column",
            example,
        )  # fmt: skip


def _rewrite_reason(column: sa.Column[Any], scope: CheckScope) -> str | None:
    if column.identity is not None:
        return "an identity column fills every existing row"
    if column.computed is not None and column.computed.persisted is not False:
        return "a stored generated column is computed for every existing row"
    default = column.server_default
    if default is None:
        return None
    if scope.server_version is not None and scope.server_version < 110000:
        return "before PostgreSQL 11 any column default is written into every row"
    arg = getattr(default, "arg", None)
    if arg is None or isinstance(arg, str):  # a plain string is rendered as a quoted literal
        return None
    expression = (
        arg.text
        if isinstance(arg, sa.TextClause)
        else str(arg.compile(dialect=scope.dialect, compile_kwargs={"literal_binds": True}))
    )
    if _is_volatile(expression):
        return f"the volatile default {expression} is evaluated for every existing row"
    return None


def _is_volatile(expression: str) -> bool:
    import sqlglot
    from sqlglot.errors import ParseError

    from expandcontract.lint.volatility import is_volatile

    try:
        node = sqlglot.parse_one(expression, read="postgres")
    except ParseError:
        return True  # unknown: as the linter, assume the worst
    return is_volatile(node)


def _check_execute(operation: ops.ExecuteSQLOp, scope: CheckScope) -> None:
    from expandcontract.lint.engine import lint_sql
    from expandcontract.lint.settings import LintSettings

    if scope.opt_out.allows("execute"):
        return
    text = _sql_text(operation.sqltext, scope.dialect)
    if text is None:
        return
    # the linter knows a table is new (so e.g. a plain CREATE INDEX on it is fine) only from
    # a CREATE TABLE it has seen: tell it about the ones op.create_table made in this revision
    created = "".join(
        sql.SQL("CREATE TABLE {} ();\n").format(sql.Identifier(*(p for p in key if p))).as_string()
        for key in sorted(scope.created, key=str)
    )
    major = (scope.server_version or 150000) // 10000
    settings = LintSettings(pg_version=major, assume_in_transaction=scope.in_transaction)
    report = lint_sql(created + text, path=scope.where, settings=settings)
    errors = [
        f for f in report.findings if f.severity == "error" and not scope.opt_out.allows(f.rule)
    ]
    if not errors:
        return
    first = errors[0]
    shown = " ".join(text.split())
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    raise UnsafeOperation(
        f"op.execute({shown!r}) in {scope.where} is refused by ec.safe_ops: ec lint reports "
        + "; ".join(f"{f.rule}: {f.message}" for f in errors)
        + f". {scope.outcome} {first.suggestion} For schema changes the "
        "running app depends on, use op.expand_contract, e.g. op.expand_contract("
        '[{"alter_column": {"table": "t", "column": "c", "type": "bigint", "up": "c::bigint", '
        '"down": "c::integer"}}])',
        f'or allow it in this revision: ec_allow = {{"{first.rule}"}}, or put '
        f"`-- ec:ignore {first.rule} <reason>` before the statement; see docs/alembic.md",
    )


def _sql_text(sqltext: Any, dialect: Any) -> str | None:
    if isinstance(sqltext, str):
        return sqltext
    if isinstance(sqltext, sa.TextClause):
        return sqltext.text
    try:
        return str(sqltext.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    except sa.exc.SQLAlchemyError:
        return None  # e.g. bound values without a literal form: data, not DDL


# -- type changes -----------------------------------------------------------------------------
_TYPE = re.compile(
    r"^\s*(?P<name>[a-z_][a-z0-9_ ]*?)\s*(?:\((?P<args>[^)]*)\))?\s*"
    r"(?P<tz>(?:with|without) time zone)?\s*(?P<array>(?:\[\d*\])+)?\s*$"
)
_ALIASES = {
    "character varying": "varchar", "varchar": "varchar", "text": "text",
    "numeric": "numeric", "decimal": "numeric", "bit varying": "varbit", "varbit": "varbit",
    "integer": "int4", "int": "int4", "int4": "int4", "bigint": "int8", "int8": "int8",
    "smallint": "int2", "int2": "int2", "character": "bpchar", "char": "bpchar",
    "bpchar": "bpchar", "boolean": "bool", "bool": "bool", "double precision": "float8",
    "float8": "float8", "real": "float4", "float4": "float4", "timestamp": "timestamp",
    "timestamp without time zone": "timestamp", "timestamp with time zone": "timestamptz",
    "timestamptz": "timestamptz", "cidr": "cidr", "inet": "inet",
}  # fmt: skip


def _parse(type_text: str) -> tuple[str, tuple[int, ...], str] | None:
    """(canonical base name, numeric modifiers, array suffix), or None if not understood."""
    m = _TYPE.match(type_text.lower().replace('"', ""))
    if not m:
        return None
    name = " ".join(m.group("name").split())
    if m.group("tz"):
        name = f"{name} {m.group('tz')}"
    try:
        args = tuple(int(a) for a in m.group("args").split(",")) if m.group("args") else ()
    except ValueError:
        return None
    return _ALIASES.get(name, name), args, m.group("array") or ""


def type_change_is_safe(old: str, new: str) -> bool:
    """Whether PostgreSQL changes ``old`` to ``new`` without rewriting or scanning the table:
    binary-coercible changes that cannot fail for an existing value (varchar(n) -> varchar(m>=n)
    or text, numeric(p,s) -> numeric(q>=p,s), varbit(n) -> varbit(m>=n), cidr -> inet)."""
    a, b = _parse(old), _parse(new)
    if a is None or b is None:
        return " ".join(old.lower().split()) == " ".join(new.lower().split())
    (old_base, old_args, old_array), (new_base, new_args, new_array) = a, b
    if (old_base, old_args, old_array) == (new_base, new_args, new_array):
        return True
    if old_array or new_array:  # element coercions of arrays are not worth the risk
        return False
    if old_base in ("varchar", "text") and new_base == "text":
        return True
    if old_base == "text" and new_base == "varchar":
        return not new_args
    if old_base == new_base and old_base in ("varchar", "varbit"):
        return not new_args or (bool(old_args) and new_args[0] >= old_args[0])
    if old_base == new_base == "numeric":
        if not new_args:
            return True
        if not old_args:
            return False
        old_scale = old_args[1] if len(old_args) > 1 else 0
        new_scale = new_args[1] if len(new_args) > 1 else 0
        return new_scale == old_scale and new_args[0] >= old_args[0]
    return (old_base, new_base) == ("cidr", "inet")
