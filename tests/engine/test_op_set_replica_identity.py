"""set_replica_identity: full, default, nothing, index — set at expand for both versions,
restored by rollback (the identity and index the table had), kept by contract."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from expandcontract.operations import MigrationInvalid
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import Session, engine, migration, schema_shape
from tests.engine.lifecycle import Lifecycle, run_lifecycle


def identity(conn: psycopg.Connection[Any], table: str) -> tuple[str, str | None]:
    row = conn.execute(
        "SELECT c.relreplident::text, (SELECT ic.relname::text FROM pg_index i"
        " JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = c.oid"
        " AND i.indisreplident) FROM pg_class c WHERE c.oid = %s::regclass",
        (table,),
    ).fetchone()
    assert row is not None
    return row[0], row[1]


CASES = [
    # (identity, index, before: SQL run first, expected while live and after contract)
    ("full", None, None, ("f", None)),
    ("nothing", None, None, ("n", None)),
    ("index", "customers_pkey", None, ("i", "customers_pkey")),
    (
        "default",
        None,
        "ALTER TABLE customers REPLICA IDENTITY USING INDEX customers_name_key",
        ("d", None),
    ),
    ("FULL", None, "ALTER TABLE customers REPLICA IDENTITY NOTHING", ("f", None)),
]


@pytest.mark.parametrize(
    ("kind", "index", "before", "expected"),
    CASES,
    ids=[c[0] + str(c[2] is not None) for c in CASES],
)
def test_replica_identity_lifecycle(
    seeded: EcDatabase,
    kind: str,
    index: str | None,
    before: str | None,
    expected: tuple[str, str | None],
) -> None:
    with seeded.connect() as conn:
        conn.execute("CREATE UNIQUE INDEX customers_name_key ON customers (name)")
        if before:
            conn.execute(before)
        previous = identity(conn, "customers")
    body: dict[str, Any] = {"table": "customers", "identity": kind}
    if index:
        body["index"] = index
    ec = engine(seeded.url)
    m = migration("ri", {"set_replica_identity": body})
    ec.apply(m, through="expand")
    with seeded.connect() as conn:
        assert identity(conn, "customers") == expected
    ec.rollback()
    with seeded.connect() as conn:
        assert identity(conn, "customers") == previous

    def during(old: Session, new: Session) -> None:
        with psycopg.connect(seeded.url) as conn:
            assert identity(conn, "customers") == expected
        assert new.rows("SELECT count(*) FROM customers") == [(51,)]

    def final(conn: psycopg.Connection[Any]) -> None:
        assert identity(conn, "customers") == expected

    run_lifecycle(
        seeded,
        Lifecycle(
            [{"set_replica_identity": body}],
            old_writes=["INSERT INTO customers VALUES (51, 'from-old')"],
            during=during,
            final=final,
        ),
        name="ri2",
    )


REFUSED = [
    ({"table": "customers", "identity": "index"}, "index is required"),
    ({"table": "customers", "identity": "full", "index": "customers_pkey"}, "only then"),
    ({"table": "customers", "identity": "some"}, "must be one of"),
    ({"table": "customers", "identity": "index", "index": "nope"}, "has no index 'nope'"),
    ({"table": "users", "identity": "index", "index": "users_email_idx"}, "is not unique"),
    ({"table": "users", "identity": "index", "index": "users_nick_key"}, "nullable column"),
    ({"table": "users", "identity": "index", "index": "users_partial_key"}, "is partial"),
    ({"table": "users", "identity": "index", "index": "users_lower_key"}, "expression key"),
    ({"table": "users", "identity": "index", "index": "users_def_key"}, "deferrable"),
    ({"table": "nowhere", "identity": "full"}, "does not exist"),
]


@pytest.mark.parametrize(("body", "message"), REFUSED, ids=[m for _, m in REFUSED])
def test_bad_replica_identity_is_refused_before_anything_runs(
    seeded: EcDatabase, body: dict[str, Any], message: str
) -> None:
    with seeded.connect() as conn:
        conn.execute("CREATE UNIQUE INDEX users_nick_key ON users (nickname)")
        conn.execute("CREATE UNIQUE INDEX users_partial_key ON users (id) WHERE id > 5")
        conn.execute("CREATE UNIQUE INDEX users_lower_key ON users (lower(email))")
        conn.execute("ALTER TABLE users ALTER COLUMN email SET NOT NULL")
        conn.execute("ALTER TABLE users ADD CONSTRAINT users_def_key UNIQUE (id) DEFERRABLE")
        before = schema_shape(conn)
    with pytest.raises(MigrationInvalid, match=message):
        engine(seeded.url).apply(migration("bad", {"set_replica_identity": body}))
    with seeded.connect() as conn:
        assert schema_shape(conn) == before
        assert identity(conn, "users") == ("d", None)


def test_an_index_on_a_column_this_migration_changes_is_refused(seeded: EcDatabase) -> None:
    with seeded.connect() as conn:
        conn.execute("CREATE UNIQUE INDEX customers_name_key ON customers (name)")
    with pytest.raises(MigrationInvalid, match="this migration changes"):
        engine(seeded.url).apply(
            migration(
                "both",
                {
                    "alter_column": {
                        "table": "customers",
                        "column": "name",
                        "type": "varchar(200)",
                        "up": "name",
                        "down": "name",
                    }
                },
                {
                    "set_replica_identity": {
                        "table": "customers",
                        "identity": "index",
                        "index": "customers_name_key",
                    }
                },
            )
        )
