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
        if function.decorator_list:  # the decorator runs, and may replace the function
            why = f"a decorated {name}(): its decorator runs code and may replace what runs"
            out.functions[name] = (Unread(function.lineno, why),)
        else:
            steps = _steps(function.body, local, frozenset())
            out.functions[name] = tuple(_confined(steps, path))
        out.local_names[name] = local
    return out


_MIGRATION_FILE_OPS = ("expand_contract", "expand_contract_complete", "expand_contract_rollback")


def _confined(steps: list[Step], revision: Path) -> list[Step]:
    """``op.expand_contract("file.yaml")`` makes ec read that file: statically, only a file
    inside the revision's own folder tree (no absolute path, no ``..`` out, no symlink out),
    so a linted revision cannot make ec read /etc/passwd or /dev/zero."""
    out: list[Step] = []
    for step in steps:
        if isinstance(step, Block):
            out.append(Block(step.line, step.kind, tuple(_confined(list(step.steps), revision)),
                             step.node))  # fmt: skip
            continue
        if isinstance(step, OpCall) and step.name in _MIGRATION_FILE_OPS:
            given = [a for a in step.node.args[:1]] + [
                k.value for k in step.node.keywords if k.arg == "operations"
            ]
            literal = [g.value for g in given if isinstance(g, ast.Constant)]
            if literal and isinstance(literal[0], str) and not _inside(literal[0], revision):
                out.append(
                    Unread(
                        step.line,
                        f"op.{step.name}({literal[0]!r}): statically, ec "
                        "reads migration files inside the revision's folder only",
                    )
                )
                continue
        out.append(step)
    return out


def _inside(given: str, revision: Path) -> bool:
    folder = revision.resolve().parent
    target = Path(given)
    if target.is_absolute():
        return False
    resolved = (folder / target).resolve()
    return resolved.is_relative_to(folder) and (not resolved.exists() or resolved.is_file())


def _assigned(node: ast.stmt) -> str | None:
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        target = node.target
    else:
        return None
    return target.id if isinstance(target, ast.Name) else None


def _bound_names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.If | ast.Try | ast.TryStar | ast.With | ast.For | ast.While):
        # `if …: import evil as op` rebinds op as surely as a top-level import does
        found = {
            n.id
            for n in ast.walk(node)
            if isinstance(n, ast.Name | ast.Starred)
            and isinstance(getattr(n, "ctx", None), ast.Store)
            and isinstance(n, ast.Name)
        }
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import | ast.ImportFrom):
                found |= {(a.asname or a.name).split(".")[0] for a in inner.names}
            elif isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                found.add(inner.name)
        return found
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
        if isinstance(stmt, ast.Pass | ast.Global | ast.Nonlocal):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring or `...`
        if isinstance(stmt, ast.Delete) and not _has_call(stmt):
            continue
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            if not _whitelisted_import(stmt, names):
                steps.append(Unread(stmt.lineno, "an import: importing a module runs its code"))
            continue
        if isinstance(stmt, ast.Return | ast.Raise):
            if _has_call(stmt):
                steps.append(Unread(stmt.lineno, f"a {_kind(stmt)} with a computed value"))
            break  # nothing after it runs; raising itself runs no SQL
        if _inert_definition(stmt):
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


def _kind(stmt: ast.stmt) -> str:
    return "return" if isinstance(stmt, ast.Return) else "raise"


def _whitelisted_import(stmt: ast.Import | ast.ImportFrom, names: dict[str, Any]) -> bool:
    """Bind what ``stmt`` imports from whitelisted modules; False when it imports anything
    else (a helper module whose import would run code)."""
    before = dict(names)
    bind_import(stmt, names)
    bound = {k for k in names if k not in before or names[k] is not before[k]}
    return len(bound) >= len(stmt.names)


def _inert_definition(stmt: ast.stmt) -> bool:
    """A def / class whose definition runs no call: no decorator, no call in default values
    or annotations, and (a class) none in its body, which runs when it is defined."""
    if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return False
    if stmt.decorator_list:
        return False
    if isinstance(stmt, ast.ClassDef):
        return not _has_call(stmt) and not stmt.bases and not stmt.keywords
    header = [
        *stmt.args.defaults,
        *stmt.args.kw_defaults,
        stmt.returns,
        *(a.annotation for a in (*stmt.args.args, *stmt.args.kwonlyargs)),
    ]
    return not any(_has_call(node) for node in header if node is not None)


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
        return "a definition that runs code (decorator, default value or class body)"
    if isinstance(stmt, ast.Delete):
        return "a del statement with a call in it"
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
