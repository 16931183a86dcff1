"""ec migration files (YAML or JSON with an ``operations:`` list), read as ``ec plan`` reads
them and with the position of every key: the SQL of ``sql`` operations (phase from ``on:``) is
linted like any SQL, and the rules about the file itself (``expression-not-single``,
``invalid-migration``) check its operations. Every finding is on the file's own lines."""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from expandcontract.lint.findings import Finding
    from expandcontract.lint.settings import LintSettings
    from expandcontract.operations import MigrationInvalid

Position = tuple[int, int]  # 1-based line and column
_TOP: Position = (1, 1)
# A file that does not even parse is reported only if it says it is a migration: a folder may
# hold other YAML that merely mentions "operations".
_DECLARES_OPERATIONS = re.compile(r'^(?:operations\s*:|\s*\{?\s*"operations"\s*:)', re.MULTILINE)
_OPERATION_NUMBER = re.compile(r"operation (\d+)\b")
_LINE_COLUMN = re.compile(r"\bline (\d+), column (\d+)")


@dataclasses.dataclass(frozen=True)
class SqlSnippet:
    """The SQL of an ``sql`` operation as ec's runner runs it: ``sql`` starts with the runner's
    own lines (its timeouts; whether the text runs in one transaction) and then the text as
    written, so the rules see what the runner guarantees and report nothing it already does."""

    sql: str
    line: int  # 1-based line in the migration file of the first line of ``sql``
    phase: str  # expand | contract | rollback (a down)
    direction: str  # up | down
    written: str = ""  # the text as the file writes it


# What SafeRunner does around an ``sql`` operation's text (runner.py ``_attempt``): lock_timeout
# and statement_timeout always; one transaction unless PostgreSQL refuses that for the text
# (CONCURRENTLY, VACUUM, …). The values are only markers for the rules; the runner's are set
# per run from its settings.
_TIMEOUTS = "lock_timeout = '500ms'; SET {local}statement_timeout = '600s';\n"
_RUNNER_IN_TRANSACTION = "-- ec:assume-in-transaction\nSET LOCAL " + _TIMEOUTS.format(
    local="LOCAL "
)
_RUNNER_AUTOCOMMIT = "-- ec:assume-in-transaction off\nSET " + _TIMEOUTS.format(local="")
_RUNNER_LINES = 2


def as_run(sql: str) -> str:
    """``sql`` preceded by what ec's runner sets before it runs an ``sql`` operation."""
    from expandcontract.runner.steps import NON_TRANSACTIONAL

    return (_RUNNER_AUTOCOMMIT if NON_TRANSACTIONAL.search(sql) else _RUNNER_IN_TRANSACTION) + sql


@dataclasses.dataclass(frozen=True)
class Problem:
    """What a rule reports on the file; ``hint`` None: the rule's own suggestion."""

    position: Position
    message: str
    hint: str | None = None


@dataclasses.dataclass(frozen=True)
class Refusal:
    error: MigrationInvalid
    position: Position


@dataclasses.dataclass(frozen=True)
class OperationEntry:
    """One item of ``operations:``."""

    number: int  # 1-based, as ec plan counts: "operation 2 (alter_column)"
    kind: str | None  # None unless the item is a mapping with exactly one key
    body: Any
    node: yaml.Node | None  # the body's node, for positions
    position: Position  # of the item (its kind key)

    @property
    def where(self) -> str:
        """How ec plan names the operation in its messages."""
        return f"operation {self.number} ({self.kind})"

    def position_of(self, *path: str | int) -> Position:
        """Where the key at ``path`` in the body is written (an int: that list item); the
        operation's own position when the file does not say."""
        node, found = self.node, self.position
        for step in path:
            if isinstance(node, yaml.MappingNode) and isinstance(step, str):
                pairs = [(k, v) for k, v in node.value if getattr(k, "value", None) == step]
                if not pairs:
                    return self.position
                key, node = pairs[-1]  # the last one, as the file is read
                found = _position(key)
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
                if step >= len(node.value):
                    return self.position
                node = node.value[step]
                found = _position(node)
            else:
                return self.position
        return found


@dataclasses.dataclass
class EcMigration:
    path: Path
    data: dict[str, Any] | None  # as ec plan reads it; None when it cannot be read
    operations: list[OperationEntry]
    read_error: Problem | None = None  # why ec plan cannot read the file at all

    @property
    def snippets(self) -> list[SqlSnippet]:
        out: list[SqlSnippet] = []
        for op in self.operations:
            if op.kind != "sql" or not isinstance(op.body, dict):
                continue
            phase = str(op.body.get("on") or "expand")
            for direction in ("up", "down"):
                sql = op.body.get(direction)
                if not isinstance(sql, str) or not sql.strip():
                    continue
                if direction == "down" and phase != "expand":
                    continue  # ec rollback runs the downs of expand-time sql only: never runs
                line = _value_line(_value(op.node, direction)) or op.position[0]
                # a down runs at rollback: it undoes this migration's own expand, which the
                # old version never used (ec drops the new version's schema first)
                run_phase = phase if direction == "up" else "rollback"
                out.append(SqlSnippet(as_run(sql), line - _RUNNER_LINES, run_phase, direction, sql))
        return out

    @functools.cached_property
    def refusals(self) -> list[Refusal]:
        """Every error ec plan would raise reading the file: the first of each operation (ec
        plan itself stops at the first of all), then the file's own (top-level keys, unknown
        operations), each at its operation or else at the top of the file."""
        from expandcontract.engine.migration import from_spec
        from expandcontract.operations import OPERATIONS, MigrationInvalid

        found: list[Refusal] = []
        if self.data is None:
            return found
        for op in self.operations:
            if op.kind in OPERATIONS:
                try:
                    OPERATIONS[op.kind].from_spec(op.body, where=op.where)
                except MigrationInvalid as exc:
                    found.append(Refusal(exc, op.position))
        try:
            from_spec(self.data, default_name=self.path.stem)
        except MigrationInvalid as exc:
            if all(exc.message != r.error.message for r in found):
                found.append(Refusal(exc, self._position_in(exc.message)))
        return found

    def _position_in(self, message: str) -> Position:
        m = _OPERATION_NUMBER.match(message)
        number = int(m.group(1)) if m else 0
        return self.operations[number - 1].position if 0 < number <= len(self.operations) else _TOP


def read(path: Path, text: str) -> EcMigration | None:
    """The file as ec plan reads it, or None when it is not an ec migration file (no
    top-level ``operations:`` list)."""
    from expandcontract.engine.migration import parse_text
    from expandcontract.operations import MigrationInvalid

    try:  # positions only: the data is what ec plan reads, below
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        root = None
    try:
        data = parse_text(text, source=str(path), json_format=path.suffix == ".json")
    except MigrationInvalid as exc:
        declared = isinstance(_value(root, "operations"), yaml.SequenceNode)
        if not declared and not _DECLARES_OPERATIONS.search(text):
            return None
        return EcMigration(path, None, [], Problem(_mark(exc.message), exc.message, exc.hint))
    if not isinstance(data, dict) or not isinstance(data.get("operations"), list):
        return None
    items = _value(root, "operations")
    operations = [
        _entry(i, raw, _item(items, i - 1)) for i, raw in enumerate(data["operations"], start=1)
    ]
    return EcMigration(path, data, operations)


def snippets(path: Path, text: str) -> list[SqlSnippet] | None:
    """SQL snippets of the file, or None when it is not an ec migration file."""
    migration = read(path, text)
    return None if migration is None else migration.snippets


def rule_findings(path: str, migration: EcMigration, settings: LintSettings) -> list[Finding]:
    """Findings of the active rules about the file itself."""
    from expandcontract.lint.findings import Finding
    from expandcontract.lint.registry import is_active
    from expandcontract.lint.rules import expression_not_single, invalid_migration

    found: list[Finding] = []
    for module in (expression_not_single, invalid_migration):
        rule = module.RULE
        if not is_active(rule, settings):
            continue
        for problem in module.check_file(migration):
            line, column = problem.position
            suggestion = problem.hint or rule.suggestion
            found.append(
                Finding(path, line, column, rule.id, rule.severity, problem.message, suggestion)
            )
    return found


def _mark(message: str) -> Position:
    """The position ec plan names in a message about the file's text ("…, line 3, column 5:")."""
    m = _LINE_COLUMN.search(message)
    return (int(m.group(1)), int(m.group(2))) if m else _TOP


def _entry(number: int, raw: Any, node: yaml.Node | None) -> OperationEntry:
    if isinstance(raw, dict) and len(raw) == 1:
        ((kind, body),) = raw.items()
        if isinstance(node, yaml.MappingNode) and node.value:
            key, value = node.value[-1]
            return OperationEntry(number, kind, body, value, _position(key))
        return OperationEntry(number, kind, body, None, _position(node))
    return OperationEntry(number, None, raw, node, _position(node))


def _position(node: yaml.Node | None) -> Position:
    if node is None:
        return _TOP
    return node.start_mark.line + 1, node.start_mark.column + 1


def _value_line(node: yaml.Node | None) -> int:
    """Line where a scalar's text starts (a block scalar ``|`` starts on the next line)."""
    if node is None:
        return 0
    line = node.start_mark.line + 1
    return line + 1 if getattr(node, "style", None) in ("|", ">") else line


def _value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    found = None
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if getattr(k, "value", None) == key:
                found = v  # the last one, as the file is read
    return found


def _item(node: yaml.Node | None, index: int) -> yaml.Node | None:
    if isinstance(node, yaml.SequenceNode) and index < len(node.value):
        return node.value[index]  # type: ignore[no-any-return]
    return None
