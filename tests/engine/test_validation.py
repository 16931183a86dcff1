"""Bad migrations are rejected before the first statement, with a clear message."""

from __future__ import annotations

from typing import Any

import pytest

from expandcontract.errors import ECError
from expandcontract.operations import MigrationInvalid
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import engine, migration, schema_shape


def _statements(conn: Any) -> int:
    row = conn.execute(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    return int(row[0])


BAD: list[tuple[str, list[dict[str, Any]], str]] = [
    ("unknown table", [{"drop_table": {"name": "nope"}}], "table 'nope' does not exist"),
    (
        "unknown column",
        [{"rename_column": {"table": "users", "from": "nope", "to": "x"}}],
        "column 'nope' does not exist in table 'users'",
    ),
    (
        "bad type",
        [{"add_column": {"table": "users", "column": {"name": "x", "type": "intgr"}}}],
        "unknown type 'intgr'",
    ),
    (
        "up does not type-check",
        [
            {
                "alter_column": {
                    "table": "users",
                    "column": "amount",
                    "type": "bigint",
                    "up": "amount + 'x'",
                    "down": "amount::int",
                }
            }
        ],
        "up \"amount + 'x'\" is not valid: invalid input syntax",
    ),
    (
        "up names an unknown column",
        [
            {
                "alter_column": {
                    "table": "users",
                    "column": "amount",
                    "type": "bigint",
                    "up": "amout::bigint",
                    "down": "amount::int",
                }
            }
        ],
        'column "amout" does not exist',
    ),
    (
        "down uses the old name after a rename",
        [
            {"rename_column": {"table": "users", "from": "amount", "to": "total"}},
            {
                "alter_column": {
                    "table": "users",
                    "column": "total",
                    "type": "bigint",
                    "up": "amount::bigint",
                    "down": "amount::int",
                }
            },
        ],
        "down",
    ),
    (
        "missing up where data must move",
        [{"alter_column": {"table": "users", "column": "amount", "type": "bigint"}}],
        "needs `up`",
    ),
    (
        "missing down for a type change",
        [
            {
                "alter_column": {
                    "table": "users",
                    "column": "amount",
                    "type": "bigint",
                    "up": "amount::bigint",
                }
            }
        ],
        "needs `down`",
    ),
    (
        "NOT NULL add without a value",
        [
            {
                "add_column": {
                    "table": "users",
                    "column": {"name": "x", "type": "int", "nullable": False},
                }
            }
        ],
        "needs a value for existing rows",
    ),
    (
        "drop NOT NULL column without down",
        [{"drop_column": {"table": "customers", "column": "name"}}],
        "give drop_column a `down`",
    ),
    (
        "name collision",
        [{"create_table": {"name": "users", "columns": [{"name": "id", "type": "int"}]}}],
        "the name is taken",
    ),
    (
        "index name collision",
        [{"create_index": {"name": "users_amount_idx", "table": "users", "columns": ["email"]}}],
        "the name is taken",
    ),
    (
        "conflicting operations",
        [
            {
                "alter_column": {
                    "table": "users",
                    "column": "nickname",
                    "nullable": False,
                    "up": "coalesce(nickname, '')",
                }
            },
            {"drop_column": {"table": "users", "column": "nickname"}},
        ],
        "changed earlier in this migration",
    ),
    (
        "reserved prefix",
        [{"add_column": {"table": "users", "column": {"name": "_ec_x", "type": "int"}}}],
        "reserved for ec",
    ),
    (
        "unknown field",
        [{"add_column": {"table": "users", "colum": {"name": "x", "type": "int"}}}],
        "unknown field(s) colum",
    ),
    ("unknown operation", [{"add_colum": {}}], "unknown operation 'add_colum'"),
]


@pytest.mark.parametrize(("label", "ops", "message"), BAD, ids=[b[0] for b in BAD])
def test_rejected_before_any_statement(
    seeded: EcDatabase, label: str, ops: list[dict[str, Any]], message: str
) -> None:
    with seeded.connect() as conn:
        before = schema_shape(conn)
    with pytest.raises(ECError) as info:
        engine(seeded.url).apply(migration("bad", *ops))
    assert isinstance(info.value, MigrationInvalid), info.value
    assert message in str(info.value), str(info.value)
    with seeded.connect() as conn:
        assert schema_shape(conn) == before
        ledger = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'expandcontract'"
            " AND tablename = 'migrations'"
        ).fetchone()
        if ledger == (1,):
            assert conn.execute("SELECT count(*) FROM expandcontract.migrations").fetchone() == (0,)


def test_second_migration_while_one_is_active(seeded: EcDatabase) -> None:
    ec = engine(seeded.url)
    ec.apply(migration("first", {"rename_column": {"table": "users", "from": "email", "to": "e"}}))
    with pytest.raises(ECError, match="migration 'first' is still active"):
        ec.apply(migration("second", {"drop_table": {"name": "old_stuff"}}))


def test_changed_file_is_refused_on_resume(seeded: EcDatabase) -> None:
    ec = engine(seeded.url)
    ec.apply(migration("m", {"rename_column": {"table": "users", "from": "email", "to": "e"}}))
    with pytest.raises(ECError, match="changed since it was started"):
        ec.apply(migration("m", {"rename_column": {"table": "users", "from": "email", "to": "f"}}))


def test_contract_refused_before_backfill(seeded: EcDatabase) -> None:
    ec = engine(seeded.url)
    m = migration(
        "m",
        {
            "alter_column": {
                "table": "users",
                "column": "nickname",
                "nullable": False,
                "up": "coalesce(nickname, 'anon')",
            }
        },
    )
    ec.apply(m, through="expand")
    with pytest.raises(ECError, match="backfill is not verified complete"):
        ec.complete()


def test_yaml_words_are_not_booleans(tmp_path: Any) -> None:
    """YAML 1.1 would read `on:` as true; the documented `sql: {on: contract}` must work."""
    from expandcontract.engine.migration import load

    path = tmp_path / "0009_words.yaml"
    path.write_text(
        "operations:\n"
        "  - sql: {up: 'SELECT 1', on: contract}\n"
        "  - add_column: {table: t, column: {name: x, type: int, nullable: false, default: '0'}}\n"
    )
    first, second = load(path).operations
    assert first.to_spec()["on"] == "contract"
    assert second.to_spec()["column"]["nullable"] is False


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        (
            [
                {
                    "add_column": {
                        "table": "users",
                        "column": {"name": "x", "type": "int", "check": "x > 'nope'"},
                    }
                }
            ],
            "check",
        ),
        (
            [
                {
                    "add_column": {
                        "table": "users",
                        "column": {"name": "c", "type": "int", "references": "nowhere(id)"},
                    }
                }
            ],
            "references unknown table public.nowhere",
        ),
        (
            [
                {
                    "add_column": {
                        "table": "users",
                        "column": {"name": "amount_x", "type": "int", "unique": True},
                    }
                },
                {
                    "create_index": {
                        "name": "users_amount_x_key",
                        "table": "users",
                        "columns": ["email"],
                    }
                },
            ],
            "the name is taken",
        ),
    ],
)
def test_checks_references_and_derived_names_are_validated_first(
    seeded: EcDatabase, ops: list[dict[str, Any]], message: str
) -> None:
    with seeded.connect() as conn:
        before = schema_shape(conn)
    with pytest.raises(MigrationInvalid, match=message):
        engine(seeded.url).apply(migration("bad", *ops))
    with seeded.connect() as conn:
        assert schema_shape(conn) == before
