"""ec migration files are linted as ``ec plan`` reads them: a field ec splices into SQL that is
not exactly one expression (or type) is ``expression-not-single``, anything else ``ec plan``
refuses is ``invalid-migration``; both are errors placed on the file's own lines, with the
message ``ec plan`` gives."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from expandcontract.cli import cli
from expandcontract.engine.migration import load
from expandcontract.lint.batch import lint_paths
from expandcontract.lint.findings import Finding
from expandcontract.lint.settings import LintSettings
from expandcontract.operations import OPERATIONS, ColumnSpec, MigrationInvalid
from expandcontract.operations.expressions import ExpressionInvalid

EXPR = "expression-not-single"
INVALID = "invalid-migration"

# the reproduction of issue 10, item 1
HOSTILE = """\
operations:
  - alter_column: {table: t, column: v, type: bigint, down: "v::integer",
                   up: "1)::bigint FROM t; DELETE FROM victim; CREATE TEMP TABLE IF NOT EXISTS z AS SELECT (1"}
"""  # noqa: E501

BENIGN = """\
name: widen_and_split
operations:
  - alter_column:
      table: t
      column: v
      type: bigint
      default: "0"
      up: v::bigint
      down: "CASE WHEN v > 2147483647 THEN 2147483647 ELSE v::integer END"
  - add_column:
      table: users
      column: {name: email_domain, type: varchar(255), check: "email_domain <> ''"}
      up: split_part(email, '@', 2)
  - drop_column: {table: users, column: legacy, down: "coalesce(nickname, '')"}
  - create_table:
      name: events
      columns:
        - {name: id, type: bigint, identity: true, primary_key: true}
        - {name: at, type: timestamp with time zone, default: now()}
        - {name: amount, type: "numeric(10, 2)", check: "amount >= 0"}
  - create_index: {name: events_at, table: events, columns: [at], where: "amount > 0"}
  - sql:
      on: contract
      up: "SET lock_timeout = '1s'; SELECT 1;"
"""


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EC_LINT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def lint_file(path: str, settings: LintSettings | None = None) -> list[Finding]:
    (report,) = lint_paths([path], settings or LintSettings())
    return report.findings


def ec_plan_refusal(path: str) -> MigrationInvalid:
    """What ``ec plan`` / ``ec apply`` say about the file (they load it with this function)."""
    with pytest.raises(MigrationInvalid) as caught:
        load(path)
    return caught.value


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["lint", *args])
    return result.exit_code, result.output


def position(text: str, needle: str) -> tuple[int, int]:
    """1-based line and column of the only occurrence of ``needle``."""
    assert text.count(needle) == 1, needle
    before = text[: text.index(needle)]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


# --- the reproduction --------------------------------------------------------------------


def test_issue_reproduction_is_an_error_at_the_up_line(tmp_path: Path) -> None:
    path = write(tmp_path, "m/0002_widen.yaml", HOSTILE)
    refusal = ec_plan_refusal(path)
    assert isinstance(refusal, ExpressionInvalid)
    line, column = position(HOSTILE, "up:")
    findings = lint_file(path)
    assert [(f.rule, f.severity, f.line, f.column, f.message) for f in findings] == [
        (EXPR, "error", line, column, refusal.message)
    ]
    assert findings[0].suggestion == refusal.hint


def test_issue_reproduction_fails_the_ci_gate(tmp_path: Path) -> None:
    path = write(tmp_path, "m/0002_widen.yaml", HOSTILE)
    code, out = run(path)
    assert code == 1
    line, column = position(HOSTILE, "up:")
    assert f"{path}:{line}:{column}: error [{EXPR}] operation 1 (alter_column): up " in out
    code, out = run(str(tmp_path / "m"), "--fail-on", "error", "--format", "json")
    (finding,) = json.loads(out)["findings"]
    assert code == 1 and finding["rule"] == EXPR and finding["severity"] == "error"


def test_benign_migration_has_no_finding(tmp_path: Path) -> None:
    path = write(tmp_path, "0003_ok.yaml", BENIGN)
    load(path)  # ec plan accepts it
    assert lint_file(path) == []
    assert run(path, "--fail-on", "info")[0] == 0


def test_type_that_is_not_a_type_is_flagged(tmp_path: Path) -> None:
    text = (
        "operations:\n"
        "  - alter_column: {table: t, column: v, type: 'bigint; DROP TABLE x', up: v, down: v}\n"
    )
    path = write(tmp_path, "0004.yaml", text)
    refusal = ec_plan_refusal(path)
    (finding,) = lint_file(path)
    assert (finding.rule, finding.line, finding.column) == (EXPR, *position(text, "type:"))
    assert finding.message == refusal.message and "type 'bigint; DROP TABLE x'" in finding.message


def test_every_bad_field_is_reported_at_its_own_line(tmp_path: Path) -> None:
    """ec plan stops at the first; lint shows them all."""
    text = """\
operations:
  - alter_column:
      table: t
      column: v
      type: bigint
      up: "v::bigint; DELETE FROM t"
      down: "v::integer -- trailing comment"
  - create_table:
      name: events
      columns:
        - {name: id, type: bigint}
        - {name: n, type: integer, default: "1) + (2", check: "n > 0"}
  - create_index: {name: i, table: events, columns: [n], where: "SELECT 1"}
"""
    path = write(tmp_path, "0005.yaml", text)
    found = [(f.rule, f.line, f.column) for f in lint_file(path)]
    assert found == [
        (EXPR, *position(text, "up:")),
        (EXPR, *position(text, "down:")),
        (EXPR, *position(text, "default:")),
        (EXPR, *position(text, "where:")),
    ]
    messages = [f.message for f in lint_file(path)]
    assert messages[0] == ec_plan_refusal(path).message
    assert "contains a comment" in messages[1]
    assert messages[2].startswith("operation 2 (create_table).columns[1]: default ")
    assert "where 'SELECT 1' is not one SQL expression" in messages[3]


def test_block_scalar_is_reported_at_its_key(tmp_path: Path) -> None:
    text = (
        "operations:\n"
        "  - add_column:\n"
        "      table: users\n"
        "      column: {name: d, type: text}\n"
        "      up: |\n"
        "        lower(email));\n"
        "        DROP TABLE users; SELECT (1\n"
    )
    path = write(tmp_path, "0006.yaml", text)
    (finding,) = lint_file(path)
    assert (finding.rule, finding.line, finding.column) == (EXPR, 5, 7)
    assert finding.message == ec_plan_refusal(path).message


def test_json_migration_file(tmp_path: Path) -> None:
    data = {"operations": [{"drop_column": {"table": "t", "column": "c",
                                            "down": "0; DROP TABLE t"}}]}  # fmt: skip
    text = json.dumps(data, indent=2)
    path = write(tmp_path, "0007.json", text)
    (finding,) = lint_file(path)
    assert (finding.rule, finding.line, finding.column) == (EXPR, *position(text, '"down"'))
    assert finding.message == ec_plan_refusal(path).message


def test_rule_can_be_turned_off_like_any_other(tmp_path: Path) -> None:
    path = write(tmp_path, "0008.yaml", HOSTILE)
    assert lint_file(path, LintSettings(ignore=frozenset({EXPR}))) == []
    assert [f.rule for f in lint_file(path, LintSettings(select=frozenset({EXPR})))] == [EXPR]
    assert run(path, "--ignore", EXPR)[0] == 0


def test_warm_cache_keeps_the_finding(tmp_path: Path) -> None:
    path = write(tmp_path, "0009.yaml", HOSTILE)
    cold = run(path, "--format", "json")
    warm = run(path, "--format", "json")
    assert cold == warm and cold[0] == 1
    assert [f["rule"] for f in json.loads(warm[1])["findings"]] == [EXPR]


# --- every field of every operation, against ec plan itself --------------------------------

# Every operation with every field set (valid values); a new operation or field fails
# test_bodies_cover_every_operation_and_field until it is added here.
_COLUMN = {"name": "c", "type": "text", "nullable": True, "default": "'x'", "check": "c <> ''",
           "primary_key": False, "identity": False, "unique": True,
           "references": "u(id)", "comment": "a column"}  # fmt: skip
# Named checks and references are mappings (any column that has them).
_NAMED_COLUMN = {"name": "d", "type": "integer",
                 "check": {"name": "d_positive", "expression": "d > 0", "no_inherit": False},
                 "references": {"name": "d_fk", "table": "u", "column": "id",
                                "on_delete": "cascade", "on_update": "no_action",
                                "match": "simple"}}  # fmt: skip
# Keys: an operation kind, or `kind/variant` where one body cannot hold every field at once
# (a check constraint has no `references`); the variants of a kind cover all its fields.
BODIES: dict[str, dict[str, Any]] = {
    "add_column": {"table": "t", "column": dict(_COLUMN), "up": "lower(a)"},
    "rename_column": {"table": "t", "from": "a", "to": "b"},
    "alter_column": {
        "table": "t",
        "column": "v",
        "type": "bigint",
        "nullable": False,
        "default": "0",
        "up": "v::bigint",
        "down": "v::integer",
        "unique": {"name": "t_v_key", "nulls_not_distinct": False},
        "check": {"name": "t_v_positive", "expression": "v > 0"},
        "references": {"name": "t_v_fk", "table": "u", "column": "id", "on_delete": "cascade"},
        "comment": "the value",
    },
    "drop_column": {"table": "t", "column": "c", "down": "0"},
    "create_table": {
        "name": "t",
        "columns": [
            {"name": "id", "type": "bigint", "primary_key": True},
            dict(_COLUMN),
            dict(_NAMED_COLUMN),
        ],
        "constraints": [
            {"type": "unique", "name": "t_c_key", "columns": ["c"], "include": ["d"],
             "nulls_not_distinct": True, "storage_parameters": {"fillfactor": 90},
             "deferrable": False},
            {"type": "check", "name": "t_c_d", "check": "c <> '' OR d > 0", "no_inherit": False},
            {"type": "foreign_key", "name": "t_d_fk2", "columns": ["d"],
             "references": {"table": "u", "columns": ["id"], "on_delete": "set_null"}},
            {"type": "exclude", "name": "t_no_overlap", "method": "gist",
             "elements": [{"column": "c", "with": "="}, {"expression": "int4range(d, d)",
                                                          "with": "&&"}],
             "where": "d IS NOT NULL"},
        ],
        "comment": "a table",
    },
    "create_table/serial_and_table_primary_key": {
        "name": "t",
        "columns": [{"name": "id", "type": "serial"}],
        "constraints": [{"type": "primary_key", "name": "t_pk", "columns": ["id"]}],
    },
    "drop_table": {"name": "t"},
    "rename_table": {"from": "a", "to": "b"},
    "create_index": {
        "name": "i",
        "table": "t",
        "columns": ["a"],
        "unique": True,
        "where": "a > 0",
        "method": "btree",
        "include": ["b"],
        "nulls_not_distinct": True,
        "storage_parameters": {"fillfactor": 70},
    },
    "create_index/elements": {
        "name": "i",
        "table": "t",
        "columns": [
            {"column": "a", "opclass": "int8_ops", "sort": "desc", "nulls": "last"},
            {"expression": "lower(b)", "collate": "C"},
        ],
    },
    "drop_index": {"name": "i"},
    "sql": {"up": "SELECT 1", "down": "SELECT 2", "on": "expand", "tables": ["t"]},
    "create_constraint": {
        "table": "t",
        "name": "t_a_b_key",
        "type": "unique",
        "columns": ["a", "b"],
        "deferrable": True,
        "initially_deferred": True,
        "nulls_not_distinct": True,
        "include": ["c"],
        "up": {"a": "a || '-' || id"},
        "down": {"a": "a"},
    },
    "create_constraint/check": {
        "table": "t",
        "name": "t_a_check",
        "type": "check",
        "check": "a <> ''",
    },
    "create_constraint/foreign_key": {
        "table": "t",
        "name": "t_u_fk",
        "type": "foreign_key",
        "columns": ["u_id"],
        "references": {"table": "u", "columns": ["id"], "on_delete": "cascade",
                       "on_update": "restrict", "match": "full"},
    },
    "drop_constraint": {"table": "t", "name": "t_a_check", "up": "a", "down": "coalesce(a, 'x')"},
    "rename_constraint": {"table": "t", "from": "t_a_check", "to": "t_a_present"},
    "set_replica_identity": {"table": "t", "identity": "index", "index": "t_pkey"},
}  # fmt: skip


def _kind(label: str) -> str:
    return label.split("/", maxsplit=1)[0]


INJECTED = "1; DROP TABLE x"


def test_bodies_cover_every_operation_and_field() -> None:
    assert {_kind(label) for label in BODIES} == set(OPERATIONS)
    for kind in OPERATIONS:
        fields = {field for label, body in BODIES.items() if _kind(label) == kind for field in body}
        assert fields == set(OPERATIONS[kind].spec_fields()), kind
    assert set(_COLUMN) == {f.name for f in dataclasses.fields(ColumnSpec)}


def _string_leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _string_leaves(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _string_leaves(value, (*path, i))
    elif isinstance(node, str):
        yield path


def _variants() -> Iterator[tuple[str, tuple[Any, ...]]]:
    for label, body in BODIES.items():
        for path in _string_leaves(body):
            yield label, path


@pytest.mark.parametrize("label", list(BODIES))
def test_every_operation_as_written_is_clean(tmp_path: Path, label: str) -> None:
    text = yaml.safe_dump({"operations": [{_kind(label): BODIES[label]}]}, sort_keys=False)
    path = write(tmp_path, "0010.yaml", text)
    load(path)
    assert {f.rule for f in lint_file(path)} & {EXPR, INVALID} == set()


# Expression fields of the new operations that expression-not-single's field table does not
# list yet: still an error with ec plan's message, but at the operation's line, not the field's.
REPORTED_AT_THE_OPERATION = {
    ("alter_column", ("check", "expression")),
    ("create_table", ("columns", 2, "check", "expression")),
    ("create_table", ("constraints", 1, "check")),
    ("create_table", ("constraints", 3, "elements", 1, "expression")),
    ("create_table", ("constraints", 3, "where")),
    ("create_index/elements", ("columns", 1, "expression")),
    ("create_constraint", ("up", "a")),
    ("create_constraint", ("down", "a")),
    ("create_constraint/check", ("check",)),
    ("drop_constraint", ("up",)),
    ("drop_constraint", ("down",)),
}


@pytest.mark.parametrize(("label", "field"), list(_variants()), ids=str)
def test_lint_flags_exactly_the_fields_ec_plan_refuses(
    tmp_path: Path, label: str, field: tuple[Any, ...]
) -> None:
    body = copy.deepcopy(BODIES[label])
    container = body
    for step in field[:-1]:
        container = container[step]
    container[field[-1]] = INJECTED
    text = yaml.safe_dump({"operations": [{_kind(label): body}]}, sort_keys=False)
    path = write(tmp_path, "0011.yaml", text)
    findings = [f for f in lint_file(path) if f.rule == EXPR]
    try:
        load(path)
    except ExpressionInvalid as refusal:
        line, _ = position(text, INJECTED)
        if (label, field) in REPORTED_AT_THE_OPERATION:
            line = 2  # the `- kind:` entry
        assert [(f.line, f.message, f.severity) for f in findings] == [
            (line, refusal.message, "error")
        ]
    except MigrationInvalid:
        assert findings == []
    else:
        assert findings == []


# --- anything else ec plan refuses -------------------------------------------------------

REFUSED = {
    "unknown field": "operations:\n  - drop_table: {name: t}\n  - drop_index: {name: i, if: x}\n",
    "unknown operation": "operations:\n  - drop_table: {name: t}\n  - frobnicate: {name: t}\n",
    "two kinds in one entry": "operations:\n  - {drop_table: {name: t}, drop_index: {name: i}}\n",
    "field of the wrong type": "operations:\n  - alter_column: {table: t, column: c, nullable: no}",
    "missing field": "operations:\n  - create_index: {name: i, table: t}\n",
    "unknown top-level key": "name: x\nversion: 2\noperations:\n  - drop_table: {name: t}\n",
    "no operations": "operations: []\n",
    "bad phase": "operations:\n  - sql: {up: SELECT 1, on: later}\n",
}


@pytest.mark.parametrize("text", list(REFUSED.values()), ids=list(REFUSED))
def test_anything_else_ec_plan_refuses_is_invalid_migration(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "0012.yaml", text)
    refusal = ec_plan_refusal(path)
    assert not isinstance(refusal, ExpressionInvalid)
    (finding,) = lint_file(path)
    assert (finding.rule, finding.severity, finding.message) == (INVALID, "error", refusal.message)
    number = re.match(r"operation (\d+)", refusal.message)
    if number:  # on the operation's own line: the `- kind:` entry
        assert finding.line == 1 + int(number.group(1))
    else:
        assert (finding.line, finding.column) == (1, 1)


def test_invalid_operations_are_all_reported(tmp_path: Path) -> None:
    text = (
        "operations:\n"
        "  - drop_index: {name: i, if: x}\n"
        "  - drop_table: {name: t}\n"
        "  - rename_table: {from: a}\n"
        "  - alter_column: {table: t, column: c, type: 'int; SELECT 1'}\n"
    )
    path = write(tmp_path, "0013.yaml", text)
    found = [(f.rule, f.line) for f in lint_file(path)]
    assert found == [(INVALID, 2), (INVALID, 4), (EXPR, 5)]


def test_ec_plan_reading_of_yaml_words(tmp_path: Path) -> None:
    """`on:` is a word for ec, not YAML 1.1's boolean: `on: contract` is valid, and the SQL
    of the operation is linted in the contract phase."""
    text = (
        "operations:\n"
        "  - sql:\n"
        "      on: contract\n"
        "      up: UPDATE users SET s = 'x' WHERE s IS NULL;\n"
    )
    path = write(tmp_path, "0014.yaml", text)
    load(path)
    assert [(f.rule, f.line) for f in lint_file(path)] == [("contract-before-backfill", 4)]


def test_yaml_error_inside_a_migration_is_invalid_migration(tmp_path: Path) -> None:
    text = "operations:\n  - drop_table: {name: !!python/name:os.system t}\n"
    path = write(tmp_path, "0015.yaml", text)
    ec_plan_refusal(path)
    (finding,) = lint_file(path)
    assert (finding.rule, finding.severity, finding.line) == (INVALID, "error", 2)


def test_yaml_that_is_no_migration_is_still_not_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "config.yaml", "key: value\n")
    (report,) = lint_paths([path], LintSettings())
    assert report.findings == [] and report.status == "unparsed"


def test_unreadable_migration_is_invalid_migration(tmp_path: Path) -> None:
    text = "operations:\n  - drop_table: {name: t}\n  - drop_index: {name: i\n"
    path = write(tmp_path, "m/0016.yaml", text)
    refusal = ec_plan_refusal(path)
    (finding,) = lint_file(path)
    assert (finding.rule, finding.severity, finding.message) == (INVALID, "error", refusal.message)
    assert finding.line == 4  # where the parser gave up: the flow mapping never closes
    data = json.loads(run(str(tmp_path / "m"), "--format", "json")[1])
    assert data["files"][0]["status"] == "unparsed"


def test_unreadable_json_migration_is_invalid_migration(tmp_path: Path) -> None:
    text = '{\n  "operations": [\n    {"drop_table": {"name": "t"},}\n  ]\n}\n'
    path = write(tmp_path, "0017.json", text)
    refusal = ec_plan_refusal(path)
    (finding,) = lint_file(path)
    assert (finding.rule, finding.line, finding.message) == (INVALID, 3, refusal.message)


def test_unreadable_yaml_that_does_not_declare_operations_is_not_reported(
    tmp_path: Path,
) -> None:
    """A folder may hold other YAML that mentions operations (found by discovery)."""
    write(tmp_path, "m/notes.yaml", "text: the operations team\nlist: [a, b\n")
    (report,) = lint_paths([str(tmp_path / "m")], LintSettings())
    assert report.findings == [] and report.status == "unparsed"


def test_repeated_key_is_invalid_migration_at_the_repeat(tmp_path: Path) -> None:
    """ec plan refuses a key written twice (YAML would keep the last one silently)."""
    text = "operations:\n  - drop_column: {table: users, column: a, table: orders}\n"
    path = write(tmp_path, "0018.yaml", text)
    refusal = ec_plan_refusal(path)
    (finding,) = lint_file(path)
    assert (finding.rule, finding.message) == (INVALID, refusal.message)
    assert (finding.line, finding.column) == (2, text.splitlines()[1].rindex("table") + 1)


def test_no_comment_in_the_file_suppresses_it(tmp_path: Path) -> None:
    text = (
        "# ec:ignore-file expression-not-single\n"
        "operations:\n"
        "  # ec:ignore expression-not-single reviewed\n"
        "  - drop_column: {table: t, column: c, down: '0; DROP TABLE t'}"
        "  # ec:ignore expression-not-single\n"
    )
    path = write(tmp_path, "0019.yaml", text)
    assert [(f.rule, f.line) for f in lint_file(path)] == [(EXPR, 4)]


def test_cached_results_depend_on_the_code_that_reads_migration_files() -> None:
    """The findings on an ec migration file come from ec plan's own reading code: a change to
    it (an editable install, a new field) must discard cached results like a changed rule."""
    from expandcontract.lint.cache import code_fingerprint

    names = {part.split(":")[0] for part in code_fingerprint().split("|")}
    assert {"expressions.py", "alter_column.py", "columns.py", "engine/migration.py"} <= names
