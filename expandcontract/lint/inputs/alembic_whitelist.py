"""The only Python ``ec lint`` evaluates from a revision file it reads statically: literals,
and constructors of SQLAlchemy schema items, types and SQL elements reached through names
imported from ``sqlalchemy``, ``sqlalchemy.dialects.postgresql`` or ``alembic.op``.

Nothing else is evaluated: no other names, no attribute on an evaluated object, no operators,
comprehensions, lambdas or f-strings with expressions. The file's own code never runs; what
runs is SQLAlchemy building the objects Alembic's operations take (pull requests from forks
are linted in CI, so a revision file is untrusted input)."""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from typing import Any

# modules a name may refer to; attribute access on them is checked member by member
ALLOWED_MODULES = frozenset(
    {
        "sqlalchemy",
        "sqlalchemy.types",
        "sqlalchemy.schema",
        "sqlalchemy.sql",
        "sqlalchemy.dialects",
        "sqlalchemy.dialects.postgresql",
        "alembic",
        "alembic.op",
    }
)
# SQLAlchemy functions that only build SQL elements
_FUNCTIONS = frozenset(
    {
        "text",
        "func",
        "literal",
        "literal_column",
        "column",
        "table",
        "null",
        "true",
        "false",
        "cast",
        "and_",
        "or_",
        "not_",
        "asc",
        "desc",
    }
)
# ``op.*`` helpers that return a value (the rest are operations, not values)
OP_VALUES = frozenset({"f", "inline_literal"})
_MAX_DEPTH = 60


class NotReadable(Exception):
    """An expression outside the whitelist: ``node`` is the part that is not readable."""

    def __init__(self, node: ast.AST, why: str) -> None:
        super().__init__(why)
        self.node, self.why = node, why

    def describe(self) -> str:
        text = ast.unparse(self.node)
        shown = text if len(text) <= 60 else text[:57] + "..."
        return f"{shown!r} is {self.why}"


@dataclass(frozen=True)
class ModuleRef:
    """A name bound to a whitelisted module (``sa``, ``postgresql``, ``op``)."""

    name: str


OP = ModuleRef("alembic.op")


@dataclass(frozen=True)
class OpValue:
    """``op.f`` / ``op.inline_literal``: called with an ``Operations`` instance at render time."""

    name: str


def _allowed_member(module: str, attr: str) -> Any:
    """``module.attr`` when it is a SQLAlchemy type, schema item or SQL-building function."""
    from sqlalchemy.sql.functions import _FunctionGenerator
    from sqlalchemy.sql.schema import FetchedValue, SchemaItem
    from sqlalchemy.types import TypeEngine

    if attr.startswith("_") or not module.startswith("sqlalchemy"):
        return None
    value = getattr(importlib.import_module(module), attr, None)
    if isinstance(value, type) and issubclass(value, (TypeEngine, SchemaItem, FetchedValue)):
        return value
    if attr in _FUNCTIONS and (
        isinstance(value, _FunctionGenerator)
        or str(getattr(value, "__module__", "")).startswith("sqlalchemy.")
    ):
        return value
    return None


def attribute(base: Any, attr: str, node: ast.AST) -> Any:
    """``base.attr`` for a whitelisted base (a module reference or ``sa.func``)."""
    from sqlalchemy.sql.functions import _FunctionGenerator

    if isinstance(base, ModuleRef):
        dotted = f"{base.name}.{attr}"
        if dotted in ALLOWED_MODULES:
            return ModuleRef(dotted)
        if base == OP:
            if attr in OP_VALUES:
                return OpValue(attr)
            raise NotReadable(node, f"op.{attr}, which is not a value ec evaluates")
        value = _allowed_member(base.name, attr)
        if value is not None:
            return value
        raise NotReadable(node, f"not a SQLAlchemy type, schema item or SQL function ({attr})")
    if isinstance(base, _FunctionGenerator) and not attr.startswith("_"):
        return getattr(base, attr)  # sa.func.now: a SQL function by that name
    raise NotReadable(node, "an attribute of an evaluated object")


def bind_import(node: ast.Import | ast.ImportFrom, names: dict[str, ModuleRef | Any]) -> None:
    """Add the whitelisted names an import statement binds to ``names``."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname is not None:
                if alias.name in ALLOWED_MODULES:
                    names[alias.asname] = ModuleRef(alias.name)
            else:
                top = alias.name.split(".")[0]
                if top in ALLOWED_MODULES:
                    names[top] = ModuleRef(top)
        return
    if node.level or node.module is None:
        return
    for alias in node.names:
        local = alias.asname or alias.name
        dotted = f"{node.module}.{alias.name}"
        if dotted in ALLOWED_MODULES:
            names[local] = ModuleRef(dotted)
        elif node.module in ALLOWED_MODULES:
            value = _allowed_member(node.module, alias.name)
            if value is not None:
                names[local] = value


class Evaluator:
    """Evaluates whitelisted expression nodes; ``names`` maps local names to whitelisted
    modules or members (from the file's imports)."""

    def __init__(self, names: dict[str, Any], operations: Any = None) -> None:
        self.names = names
        self.operations = operations  # Alembic's Operations, for op.f / op.inline_literal
        self.depth = 0

    def value(self, node: ast.AST) -> Any:
        self.depth += 1
        try:
            if self.depth > _MAX_DEPTH:
                raise NotReadable(node, "nested too deeply")
            return self._value(node)
        finally:
            self.depth -= 1

    def _value(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.JoinedStr):
            if all(isinstance(part, ast.Constant) for part in node.values):
                return "".join(str(part.value) for part in node.values)  # type: ignore[attr-defined]
            raise NotReadable(node, "an f-string with expressions")
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            items = [self.value(item) for item in node.elts]
            kind = {ast.Tuple: tuple, ast.List: list, ast.Set: set}[type(node)]
            return kind(items)
        if isinstance(node, ast.Dict):
            if any(key is None for key in node.keys):
                raise NotReadable(node, "a dict with ** unpacking")
            pairs = zip(node.keys, node.values, strict=True)
            return {self.value(k): self.value(v) for k, v in pairs}  # type: ignore[arg-type]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand = self.value(node.operand)
            if isinstance(operand, int | float) and not isinstance(operand, bool):
                return -operand if isinstance(node.op, ast.USub) else operand
            raise NotReadable(node, "a sign on something other than a number")
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            raise NotReadable(node, "a name ec does not evaluate (only sqlalchemy/op imports)")
        if isinstance(node, ast.Attribute):
            return attribute(self.value(node.value), node.attr, node)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise NotReadable(node, f"a {type(node).__name__} expression, which ec does not evaluate")

    def arguments(self, node: ast.Call) -> tuple[list[Any], dict[str, Any]]:
        args: list[Any] = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                items = self.value(arg.value)
                if not isinstance(items, list | tuple):
                    raise NotReadable(arg, "a * argument that is not a list or tuple")
                args.extend(items)
            else:
                args.append(self.value(arg))
        kwargs: dict[str, Any] = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                extra = self.value(keyword.value)
                if not isinstance(extra, dict) or not all(isinstance(k, str) for k in extra):
                    raise NotReadable(keyword.value, "a ** argument that is not a dict")
                kwargs.update(extra)
            else:
                kwargs[keyword.arg] = self.value(keyword.value)
        return args, kwargs

    def call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name | ast.Attribute):  # e.g. sa.text("x")()
            raise NotReadable(node.func, "a call of an evaluated object")
        target = self.value(node.func)
        if isinstance(target, ModuleRef):
            raise NotReadable(node.func, "a module, not something to call")
        args, kwargs = self.arguments(node)
        if isinstance(target, OpValue):
            if self.operations is None:
                raise NotReadable(node, "op.* outside a revision function")
            return getattr(self.operations, target.name)(*args, **kwargs)
        return target(*args, **kwargs)  # a whitelisted SQLAlchemy constructor
