"""One test per statement form sqlglot leaves opaque (Command), misparses or rejects: if a
sqlglot upgrade starts parsing one of them, these still pin what the IR must say."""

from __future__ import annotations

from typing import Any

import pytest

from expandcontract.lint.dialect import DIALECT
from expandcontract.lint.ir import K, Kind
from expandcontract.lint.parse import parse_ops


def ops(sql: str) -> list[Any]:
    result, _ = parse_ops(DIALECT.tokenize(sql), sql)
    return result


OPAQUE = [
    ("ALTER TABLE o VALIDATE CONSTRAINT fk", K.VALIDATE_CONSTRAINT, {"table": "o", "name": "fk"}),
    (
        "ALTER TABLE u ADD CONSTRAINT k UNIQUE USING INDEX i",
        K.ADD_CONSTRAINT,
        {"using_index": True},
    ),
    (
        "ALTER TABLE u ADD CONSTRAINT p PRIMARY KEY USING INDEX i",
        K.ADD_CONSTRAINT,
        {"using_index": True},
    ),
    (
        "ALTER TABLE m ATTACH PARTITION m1 FOR VALUES FROM (1) TO (2)",
        K.ATTACH_PARTITION,
        {"table": "m", "name": "m1"},
    ),
    ("ALTER TABLE m DETACH PARTITION m1 CONCURRENTLY", K.DETACH_PARTITION, {"concurrently": True}),
    ("ALTER TABLE m DETACH PARTITION m1", K.DETACH_PARTITION, {"concurrently": False}),
    ("REINDEX INDEX CONCURRENTLY i", K.REINDEX, {"concurrently": True, "table": "i"}),
    ("REINDEX TABLE users", K.REINDEX, {"concurrently": False}),
    ("VACUUM FULL users", K.VACUUM, {"table": "users"}),
    ("VACUUM (ANALYZE) users", K.VACUUM, {"table": "users"}),
    ("CLUSTER users USING users_pkey", K.CLUSTER, {"table": "users"}),
    ("LOCK TABLE users IN ACCESS EXCLUSIVE MODE", K.LOCK_TABLE, {"table": "users"}),
    ("LOCK TABLE a, b IN SHARE MODE", K.LOCK_TABLE, {"table": "a"}),
    (
        "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh' BEFORE 'ok'",
        K.ENUM_ADD_VALUE,
        {"name": "meh", "if_exists": True},
    ),
    ("CREATE DOMAIN posint AS integer CHECK (VALUE > 0)", K.CREATE_DOMAIN, {"table": "posint"}),
    (
        "ALTER DOMAIN posint ADD CONSTRAINT c CHECK (VALUE > 0) NOT VALID",
        K.ALTER_DOMAIN_ADD_CONSTRAINT,
        {"not_valid": True},
    ),
    ("DROP DOMAIN posint", K.DROP, {"table": "posint"}),
    ("REFRESH MATERIALIZED VIEW CONCURRENTLY s", K.REFRESH_MATVIEW, {"concurrently": True}),
    ("REFRESH MATERIALIZED VIEW s", K.REFRESH_MATVIEW, {"concurrently": False}),
    ("CREATE MATERIALIZED VIEW s AS SELECT 1 WITH NO DATA", None, {"table": "s"}),
    ("SET search_path TO app, public", K.SET, {"name": "search_path"}),
    ("RESET lock_timeout", K.SET, {"name": "lock_timeout"}),
    ("DO $$ BEGIN PERFORM 1; END $$", K.DO, {}),
    (
        "CREATE OR REPLACE FUNCTION t() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; "
        "END $$",
        K.CREATE_FUNCTION,
        {"name": "t"},
    ),
    ("START TRANSACTION", K.BEGIN, {}),
    ("SAVEPOINT sp", K.SAVEPOINT, {}),
    ("RELEASE SAVEPOINT sp", K.SAVEPOINT, {}),
    ("ALTER TABLE u REPLICA IDENTITY FULL", K.REPLICA_IDENTITY, {"table": "u"}),
    ("ALTER TABLE u ENABLE ROW LEVEL SECURITY", K.OTHER_TABLE_ALTER, {"table": "u"}),
    ("ALTER TABLE u DISABLE TRIGGER trg", K.OTHER_TABLE_ALTER, {"table": "u"}),
    ("ALTER TABLE u SET SCHEMA archive", K.SET_SCHEMA, {"name": "archive"}),
    ("ALTER TABLE u ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY", K.ALTER_IDENTITY, {}),
    ("ALTER TABLE u ALTER COLUMN t DROP EXPRESSION", K.DROP_EXPRESSION, {}),
    ("ALTER TABLE u ALTER COLUMN e SET STATISTICS 1000", K.OTHER_TABLE_ALTER, {}),
    (
        "ALTER TABLE u ADD CONSTRAINT nn NOT NULL email NOT VALID",
        K.ADD_CONSTRAINT,
        {"not_valid": True},
    ),
    ("CREATE EXTENSION IF NOT EXISTS pgcrypto", K.HARMLESS, {"table": "pgcrypto"}),
    ("DROP EXTENSION IF EXISTS pgcrypto", K.DROP, {"if_exists": True}),
    ("ALTER SEQUENCE s RESTART WITH 10", K.HARMLESS, {"table": "s"}),
    ("ALTER SCHEMA a RENAME TO b", K.RENAME_OBJECT, {"name": "b"}),
    ("CREATE INDEX i ON ONLY m (ts)", K.CREATE_INDEX, {"table": "m"}),
    ("NOTIFY ch", K.HARMLESS, {}),
]


@pytest.mark.parametrize(("sql", "kind", "facts"), OPAQUE, ids=[o[0][:48] for o in OPAQUE])
def test_opaque_statement_is_classified(sql: str, kind: Kind | None, facts: dict[str, Any]) -> None:
    first = ops(sql)[0]
    if kind is not None:
        assert first.kind == kind
    assert first.kind != K.UNKNOWN
    for key, value in facts.items():
        assert getattr(first, key) == value, (key, first)


def test_multi_constraint_not_valid_yields_one_op_each() -> None:
    result = ops("ALTER TABLE u ADD CONSTRAINT a CHECK (x > 0) NOT VALID, "
                 "ADD CONSTRAINT b CHECK (y IS NOT NULL) NOT VALID")  # fmt: skip
    assert [(o.name, o.not_valid) for o in result] == [("a", True), ("b", True)]
    assert result[1].detail["not_null_column"] == "y"


def test_unknown_statement_is_explicit() -> None:
    assert ops("FROBNICATE everything")[0].kind == K.UNKNOWN


def test_parse_error_is_reported() -> None:
    sql = "CREATE TABLE broken (id int"
    result, error = parse_ops(DIALECT.tokenize(sql), sql)
    assert error and result[0].kind == K.UNKNOWN
