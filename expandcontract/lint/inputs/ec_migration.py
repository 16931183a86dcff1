"""ec migration files (YAML or JSON with an ``operations:`` list): lint the SQL of their
``sql`` operations, with the phase from ``on:``, findings placed on the file's own lines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class SqlSnippet:
    sql: str
    line: int  # 1-based line in the migration file where the SQL text starts
    phase: str  # expand | contract
    direction: str  # up | down


def _value_line(node: yaml.Node) -> int:
    line = node.start_mark.line + 1
    style = getattr(node, "style", None)
    return line + 1 if style in ("|", ">") else line


def snippets(path: Path, text: str) -> list[SqlSnippet] | None:
    """SQL snippets of the file, or None when it is not an ec migration file."""
    try:
        root = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, ValueError):
        return None
    if not isinstance(root, dict) or not isinstance(root.get("operations"), list):
        return None
    out: list[SqlSnippet] = []
    ops_node = _get(node, "operations")
    for i, op in enumerate(root["operations"]):
        if not isinstance(op, dict) or "sql" not in op or not isinstance(op["sql"], dict):
            continue
        spec = op["sql"]
        op_node = _get(_item(ops_node, i), "sql")
        # YAML 1.1 reads the bare key `on` as the boolean True
        phase = str(spec.get("on", spec.get(True, "expand")))
        for direction in ("up", "down"):
            sql = spec.get(direction)
            if isinstance(sql, str) and sql.strip():
                value = _get(op_node, direction)
                line = _value_line(value) if value is not None else 1
                out.append(SqlSnippet(sql, line, phase if direction == "up" else "", direction))
    return out


def _get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if getattr(k, "value", None) == key:
                return v  # type: ignore[no-any-return]
    return None


def _item(node: yaml.Node | None, index: int) -> yaml.Node | None:
    if isinstance(node, yaml.SequenceNode) and index < len(node.value):
        return node.value[index]  # type: ignore[no-any-return]
    return None
