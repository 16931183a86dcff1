"""A revision file read with ``ast``, never imported: its module-level attributes
(``revision``, ``down_revision``, ``branch_labels``, ``depends_on``, ``ec_phase``,
``ec_safe_ops``, ``ec_allow``) as literals, and for ``upgrade()`` / ``downgrade()`` the
``op.*`` calls in order, each with its line, or, for what cannot be read without running code,
the line and why (``Unread``). Arguments are evaluated later, when Alembic renders the call
(alembic_offline.py), through the whitelist of alembic_whitelist.py."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expandcontract.lint.inputs.alembic_whitelist import (
    OP,
    OP_VALUES,
    Evaluator,
    NotReadable,
    bind_import,
)

ATTRIBUTES = (
    "revision",
    "down_revision",
    "branch_labels",
    "depends_on",
    "ec_phase",
    "ec_safe_ops",
    "ec_allow",
)
FUNCTIONS = ("upgrade", "downgrade")
# Alembic's operations (and ec's directives) a revision calls as ``op.NAME(...)``
OPERATIONS = frozenset(
    {
        "add_column",
        "alter_column",
        "bulk_insert",
        "create_check_constraint",
        "create_exclude_constraint",
        "create_foreign_key",
        "create_index",
        "create_primary_key",
        "create_table",
        "create_table_comment",
        "create_unique_constraint",
        "drop_column",
        "drop_constraint",
        "drop_index",
        "drop_table",
        "drop_table_comment",
        "execute",
        "rename_table",
        "expand_contract",
        "expand_contract_complete",
        "expand_contract_rollback",
    }
)
# what a ``batch_alter_table`` block's ``batch_op`` offers (the table is the block's)
BATCH_OPERATIONS = frozenset(
    {
        "add_column",
        "alter_column",
        "drop_column",
        "create_index",
        "drop_index",
        "create_unique_constraint",
        "create_foreign_key",
        "create_check_constraint",
        "create_primary_key",
        "create_exclude_constraint",
        "drop_constraint",
        "create_table_comment",
        "drop_table_comment",
        "execute",
    }
)
_CONNECTION = "SQL run through a connection is not read statically"


@dataclass(frozen=True)
class Unread:
    line: int
    reason: str


@dataclass(frozen=True)
class OpCall:
    line: int
    name: str
    node: ast.Call
    batch: bool = False  # called on a batch_alter_table block's object


@dataclass(frozen=True)
class Block:
    line: int
    kind: str  # batch | autocommit
    steps: tuple[Step, ...]
    node: ast.Call | None = None  # the op.batch_alter_table(...) call


Step = OpCall | Block | Unread


@dataclass
class StaticRevision:
    path: str
    attributes: dict[str, Any] = field(default_factory=dict)
    unread_attributes: dict[str, Unread] = field(default_factory=dict)
    names: dict[str, Any] = field(default_factory=dict)  # whitelisted imports of the module
    functions: dict[str, tuple[Step, ...]] = field(default_factory=dict)
    # names each function binds through its own imports
    local_names: dict[str, dict[str, Any]] = field(default_factory=dict)


class UnreadableFile(Exception):
    """The file is not Python ``ast`` can parse."""


def read(path: Path) -> StaticRevision:
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise UnreadableFile(f"{path}: cannot parse it as Python: {exc}") from exc
    out = StaticRevision(str(path))
    functions: dict[str, ast.FunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            bind_import(node, out.names)
            continue
        for name in _bound_names(node):  # a later rebinding hides the import
            out.names.pop(name, None)
        if isinstance(node, ast.FunctionDef) and node.name in FUNCTIONS:
            functions[node.name] = node  # the last definition is the one Alembic calls
        target = _assigned(node)
        if target in ATTRIBUTES and isinstance(node, ast.Assign | ast.AnnAssign):
            assert node.value is not None
            try:
                out.attributes[target] = Evaluator({}).value(node.value)
                out.unread_attributes.pop(target, None)
            except NotReadable as exc:
                out.attributes.pop(target, None)
                out.unread_attributes[target] = Unread(
                    node.lineno, f"{target} is not a literal: {exc.describe()}"
                )
    # functions see the module's names as they are once the module has run
    for name, function in functions.items():
        local = dict(out.names)
        out.functions[name] = tuple(_steps(function.body, local, frozenset()))
        out.local_names[name] = local
    return out


def _assigned(node: ast.stmt) -> str | None:
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        target = node.target
    else:
        return None
    return target.id if isinstance(target, ast.Name) else None


def _bound_names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, ast.AnnAssign | ast.AugAssign):
        targets = [node.target]
    elif isinstance(node, ast.For | ast.With):
        targets = [node.target] if isinstance(node, ast.For) else []
        targets += [i.optional_vars for i in getattr(node, "items", []) if i.optional_vars]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _steps(body: list[ast.stmt], names: dict[str, Any], batch: frozenset[str]) -> list[Step]:
    steps: list[Step] = []
    for stmt in body:
        if isinstance(stmt, ast.Pass | ast.Global | ast.Nonlocal | ast.Delete):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring or `...`
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            bind_import(stmt, names)
            continue
        if isinstance(stmt, ast.Return | ast.Raise):
            if isinstance(stmt, ast.Return) and _has_call(stmt):
                steps.append(Unread(stmt.lineno, "a return with a computed value"))
            break  # nothing after it runs; raising itself runs no SQL
        if isinstance(stmt, ast.FunctionDef | ast.ClassDef) and not stmt.decorator_list:
            continue  # defining runs nothing; calling it is reported where it is called
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            steps.append(_call(stmt.value, names, batch))
        elif isinstance(stmt, ast.With):
            steps.append(_with(stmt, names, batch))
        else:
            steps.append(Unread(stmt.lineno, _why(stmt)))
    return steps


def _has_call(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) for n in ast.walk(node))


def _why(stmt: ast.stmt) -> str:
    if isinstance(stmt, ast.If):
        return "an if statement: which branch runs is decided when the revision runs"
    if isinstance(stmt, ast.For | ast.AsyncFor | ast.While):
        return "a loop: what it runs depends on values computed when the revision runs"
    if isinstance(stmt, ast.Try | ast.TryStar):
        return "a try statement: what runs depends on errors raised when the revision runs"
    if isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
        if any(_is_get_bind(n) for n in ast.walk(stmt)):
            return f"op.get_bind(): {_CONNECTION}"
        return "an assignment: values computed in the revision are not evaluated"
    if isinstance(stmt, ast.Match):
        return "a match statement: which case runs is decided when the revision runs"
    if isinstance(stmt, ast.AsyncWith):
        return "an async with statement"
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return "a decorated definition: its decorator runs code"
    return f"a {type(stmt).__name__} statement, which ec does not read statically"


def _is_get_bind(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr in ("get_bind", "connection")


def _receiver(node: ast.expr, names: dict[str, Any], batch: frozenset[str]) -> str | None:
    """``op`` or ``batch`` for the object an ``X.name(...)`` call is made on, else None."""
    if isinstance(node, ast.Name) and node.id in batch:
        return "batch"
    try:
        return "op" if Evaluator(names).value(node) == OP else None
    except NotReadable:
        return None


def _call(node: ast.Call, names: dict[str, Any], batch: frozenset[str]) -> Step:
    line, func = node.lineno, node.func
    shown = ast.unparse(func)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    if not isinstance(func, ast.Attribute):
        return Unread(
            line, f"{shown}(): only op.* calls are read statically; other functions do not run"
        )
    receiver = _receiver(func.value, names, batch)
    if receiver == "op":
        if func.attr in OPERATIONS:
            return OpCall(line, func.attr, node)
        if func.attr in OP_VALUES:
            return Unread(line, f"op.{func.attr}() as a statement does nothing ec can read")
        if func.attr == "get_bind":
            return Unread(line, f"op.get_bind(): {_CONNECTION}")
        return Unread(
            line,
            f"op.{func.attr}() is not an Alembic operation ec reads statically "
            "(custom operations are registered by code that does not run)",
        )
    if receiver == "batch":
        if func.attr in BATCH_OPERATIONS:
            return OpCall(line, func.attr, node, batch=True)
        return Unread(line, f"{shown}() is not a batch operation ec reads statically")
    if func.attr in ("execute", "exec_driver_sql", "scalar", "scalars"):
        return Unread(line, f"{shown}(): {_CONNECTION}")
    return Unread(line, f"{shown}(): only op.* calls are read statically; other calls do not run")


def _with(stmt: ast.With, names: dict[str, Any], batch: frozenset[str]) -> Step:
    line = stmt.lineno
    why = (
        "a with statement other than op.batch_alter_table(...) or "
        "op.get_context().autocommit_block()"
    )
    if len(stmt.items) != 1 or not isinstance(stmt.items[0].context_expr, ast.Call):
        return Unread(line, why)
    item = stmt.items[0]
    call = item.context_expr
    assert isinstance(call, ast.Call)
    func = call.func
    if not isinstance(func, ast.Attribute):
        return Unread(line, why)
    if func.attr == "batch_alter_table" and _receiver(func.value, names, batch) == "op":
        alias = item.optional_vars
        if alias is not None and not isinstance(alias, ast.Name):
            return Unread(line, why)
        inner = batch | ({alias.id} if isinstance(alias, ast.Name) else set())
        return Block(line, "batch", tuple(_steps(stmt.body, names, inner)), call)
    if (
        func.attr == "autocommit_block"
        and not call.args
        and not call.keywords
        and item.optional_vars is None
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Attribute)
        and func.value.func.attr == "get_context"
        and not func.value.args
        and _receiver(func.value.func.value, names, batch) == "op"
    ):
        return Block(line, "autocommit", tuple(_steps(stmt.body, names, batch)))
    return Unread(line, why)
