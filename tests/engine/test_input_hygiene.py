"""Migration files say exactly one thing: a repeated key, a name PostgreSQL would cut short,
or a file that is not text is refused before anything runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from expandcontract.engine.migration import load, parse_text
from expandcontract.operations import MigrationInvalid
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import engine, migration, schema_shape

# -- repeated keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ("operations:\n  - drop_table: {name: users, name: old_stuff}\n", "name", 2),
        (
            "operations:\n"
            "  - add_column:\n"
            "      table: users\n"
            "      column: {name: x, type: int}\n"
            "      table: customers\n",
            "table",
            5,
        ),
        (
            "name: a\noperations:\n  - drop_table: {name: old_stuff}\nname: b\n",
            "name",
            4,
        ),
        (
            "operations:\n"
            "  - add_column:\n"
            "      table: users\n"
            "      column: {name: x, type: int, type: text}\n",
            "type",
            4,
        ),
    ],
    ids=["operation body", "block mapping", "top level", "column"],
)
def test_repeated_yaml_key_is_refused_with_its_line(
    tmp_path: Path, text: str, key: str, line: int
) -> None:
    path = tmp_path / "0001_dup.yaml"
    path.write_text(text)
    with pytest.raises(MigrationInvalid) as info:
        load(path)
    message = info.value.message
    assert f"key {key!r} appears twice" in message, message
    assert f"{path}, line {line}," in message, message
    assert info.value.exit_code == 2


def test_repeated_json_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "0001_dup.json"
    path.write_text(
        '{"operations": [\n  {"drop_table": {"name": "users",\n                  "name": "x"}}]}'
    )
    with pytest.raises(MigrationInvalid) as info:
        load(path)
    assert f"{path}, line 3, column 19: key 'name' appears twice" in info.value.message
    assert info.value.exit_code == 2


def test_yaml_merge_key_may_still_override(tmp_path: Path) -> None:
    """`<<: *base` followed by a key of its own is an explicit override, not a repeat."""
    path = tmp_path / "0001_merge.yaml"
    path.write_text(
        "operations:\n"
        "  - add_column: {table: t, column: &c {name: a, type: int}}\n"
        "  - add_column: {table: t, column: {<<: *c, name: b}}\n"
    )
    first, second = load(path).operations
    assert first.to_spec()["column"] == {"name": "a", "type": "int"}
    assert second.to_spec()["column"] == {"name": "b", "type": "int"}


def test_syntax_errors_name_the_file_and_line() -> None:
    with pytest.raises(MigrationInvalid, match=r"m\.yaml, line 3, column \d+: "):
        parse_text("operations:\n  - drop_table: {name: x\n", source="m.yaml", json_format=False)
    with pytest.raises(MigrationInvalid, match=r"m\.json, line 1, column 17: not valid JSON"):
        parse_text('{"operations": [', source="m.json", json_format=True)


def test_a_file_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "0001_latin1.yaml"
    path.write_bytes("operations:\n  - drop_table: {name: caf\xe9}\n".encode("latin-1"))
    with pytest.raises(MigrationInvalid, match="is not UTF-8 text") as info:
        load(path)
    assert info.value.exit_code == 2


def test_repeated_key_through_the_cli_is_exit_2(tmp_path: Path, ec_db: EcDatabase) -> None:
    from click.testing import CliRunner

    from expandcontract.cli import cli

    path = tmp_path / "0001_dup.yaml"
    path.write_text("operations:\n  - drop_table: {name: users, name: x}\n")
    for command in ("plan", "apply"):
        result = CliRunner().invoke(cli, [command, str(path), "-d", ec_db.url])
        assert result.exit_code == 2, result.output
        assert "key 'name' appears twice in one mapping (first on line 2)" in result.output
        assert "Traceback" not in result.output and "internal error" not in result.output


# -- names PostgreSQL would truncate -----------------------------------------------------------

LONG = "n" * 64  # 64 bytes
LONG_UTF8 = "é" * 32  # 32 characters, 64 bytes

TOO_LONG: list[tuple[str, dict[str, Any]]] = [
    ("add_column", {"add_column": {"table": "users", "column": {"name": LONG, "type": "int"}}}),
    (
        "add_column multibyte",
        {"add_column": {"table": "users", "column": {"name": LONG_UTF8, "type": "int"}}},
    ),
    (
        "create_table column",
        {"create_table": {"name": "t", "columns": [{"name": LONG, "type": "int"}]}},
    ),
    ("create_table", {"create_table": {"name": LONG, "columns": [{"name": "id", "type": "int"}]}}),
    ("rename_column to", {"rename_column": {"table": "users", "from": "email", "to": LONG}}),
    ("rename_column from", {"rename_column": {"table": "users", "from": LONG, "to": "e"}}),
    ("rename_table to", {"rename_table": {"from": "users", "to": LONG_UTF8}}),
    ("drop_table", {"drop_table": {"name": LONG}}),
    ("drop_index", {"drop_index": {"name": LONG}}),
]


@pytest.mark.parametrize(("label", "op"), TOO_LONG, ids=[t[0] for t in TOO_LONG])
def test_names_over_63_bytes_are_refused_when_the_file_is_read(
    label: str, op: dict[str, Any]
) -> None:
    with pytest.raises(MigrationInvalid, match="is longer than 63 bytes") as info:
        migration("long", op)
    assert "choose a shorter name" in str(info.value.hint)


def test_63_bytes_is_still_fine_and_creates_exactly_that_name(ec_db: EcDatabase) -> None:
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE users (id int PRIMARY KEY)")
    name = "c" * 63
    engine(ec_db.url).apply(
        migration(
            "fits", {"add_column": {"table": "users", "column": {"name": name, "type": "int"}}}
        ),
        through="contract",
    )
    with ec_db.connect() as conn:
        columns = [c[0] for c in schema_shape(conn)["users"]["columns"]]
    assert columns == ["id", name]


def test_a_long_add_column_name_changes_nothing_in_the_database(ec_db: EcDatabase) -> None:
    """Before: PostgreSQL cut the name to 63 bytes and the column existed under another name."""
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE users (id int PRIMARY KEY)")
        before = schema_shape(conn)
    add = {"add_column": {"table": "users", "column": {"name": LONG, "type": "int"}}}
    with pytest.raises(MigrationInvalid, match="longer than 63 bytes"):
        engine(ec_db.url).apply(migration("long", add), through="contract")
    with ec_db.connect() as conn:
        assert schema_shape(conn) == before


def test_nul_in_a_name_is_refused() -> None:
    with pytest.raises(MigrationInvalid, match="NUL"):
        migration("nul", {"drop_table": {"name": "a\x00b"}})


def test_long_index_and_version_schema_names_are_refused_before_anything_runs(
    ec_db: EcDatabase,
) -> None:
    from expandcontract.engine.migration import from_spec

    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE users (id int PRIMARY KEY, email text)")
        before = schema_shape(conn)
    index = {"create_index": {"name": LONG, "table": "users", "columns": ["email"]}}
    with pytest.raises(MigrationInvalid, match="longer than 63 bytes"):
        engine(ec_db.url).apply(migration("idx", index))
    spec = {"version_schema": LONG, "operations": [{"drop_table": {"name": "users"}}]}
    with pytest.raises(MigrationInvalid, match="longer than 63 bytes"):
        engine(ec_db.url).apply(from_spec(spec, default_name="vs"))
    with ec_db.connect() as conn:
        assert schema_shape(conn) == before
