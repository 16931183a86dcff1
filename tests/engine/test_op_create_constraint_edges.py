"""create_constraint with other operations of the same migration, options, the spec, and
rows that stay pending."""

from __future__ import annotations

from typing import Any

import pytest

from expandcontract.pytest_plugin import EcDatabase
from expandcontract.verify.mapping import version_map
from tests.engine.constraint_lifecycle import (
    constraints,
    create,
    refused,
    seed,
)
from tests.engine.harness import Session, engine, migration

PK_TICKETS = ("tickets_pkey", "p", "PRIMARY KEY (id)", True)
PK_PEOPLE = ("people_pkey", "p", "PRIMARY KEY (id)", True)


def test_existing_unique_on_a_twinned_column_is_kept(ec_db: EcDatabase) -> None:
    """pgroll's case: a unique over (code, price) with up, on a column that has its own unique
    constraint: both exist during the migration and after it."""
    seed(ec_db)
    Session(ec_db.url, None).run("ALTER TABLE tickets ADD CONSTRAINT own_code UNIQUE (code)")
    ec = engine(ec_db.url)
    m = migration(
        "both",
        create(
            table="tickets",
            name="code_price",
            type="unique",
            columns=["code", "price"],
            up={"price": "coalesce(price, 0)"},
        ),
    )
    ec.apply(m, through="backfill")
    new = Session(ec_db.url, m.schema_for("public"))
    refused(new, "INSERT INTO tickets (id, code, price) VALUES (9, 'c1', 99)", "23505")
    ec.complete()
    assert constraints(ec_db, "tickets") == [
        ("code_price", "u", "UNIQUE (code, price)", True),
        ("own_code", "u", "UNIQUE (code)", True),
        PK_TICKETS,
    ]


def test_unique_on_a_serial_column_keeps_its_sequence(ec_db: EcDatabase) -> None:
    seed(ec_db)
    old = Session(ec_db.url, None)
    old.run(
        "CREATE TABLE counters (id integer PRIMARY KEY, n serial)",
        "INSERT INTO counters (id) SELECT generate_series(1, 3)",
    )
    ec = engine(ec_db.url)
    m = migration(
        "serial",
        create(
            table="counters", name="counters_n_key", type="unique", columns=["n"], up={"n": "n"}
        ),
    )
    ec.apply(m, through="backfill")
    old.run("INSERT INTO counters (id) VALUES (4)")
    ec.complete()
    old.run("INSERT INTO counters (id) VALUES (5)")
    assert old.rows("SELECT n FROM counters ORDER BY id") == [(1,), (2,), (3,), (4,), (5,)]
    assert constraints(ec_db, "counters") == [
        ("counters_n_key", "u", "UNIQUE (n)", True),
        ("counters_pkey", "p", "PRIMARY KEY (id)", True),
    ]


def test_verify_maps_columns_through_up_and_down() -> None:
    """`ec verify` learns from link() how old and new values correspond."""
    m = migration(
        "link",
        create(
            table="people",
            name="u",
            type="unique",
            columns=["email", "age"],
            up={"email": "lower(email)"},
        ),
        {"drop_constraint": {"table": "tickets", "name": "c", "down": {"price": "abs(price)"}}},
        {
            "alter_column": {
                "table": "posts",
                "column": "title",
                "unique": True,
                "up": "title || id",
                "down": "title",
            }
        },
    )
    versions = version_map(
        m, {"people": ["id", "email", "age"], "tickets": ["id", "price"], "posts": ["id", "title"]}
    )
    people = {c.new: (c.up, c.down) for c in versions.tables["people"].columns}
    assert people == {
        "id": (None, None),
        "email": ("lower(email)", '"email"'),
        "age": ('"age"', '"age"'),
    }
    tickets = {c.new: (c.up, c.down) for c in versions.tables["tickets"].columns}
    assert tickets == {"id": (None, None), "price": (None, "abs(price)")}
    posts = {c.new: (c.up, c.down) for c in versions.tables["posts"].columns}
    assert posts == {"id": (None, None), "title": ("title || id", "title")}


def test_on_a_table_created_in_the_same_migration(ec_db: EcDatabase) -> None:
    seed(ec_db)
    ec = engine(ec_db.url)
    m = migration(
        "created",
        {
            "create_table": {
                "name": "orders",
                "columns": [
                    {"name": "id", "type": "integer"},
                    {"name": "code", "type": "text"},
                    {"name": "seller_name", "type": "text"},
                    {"name": "seller_zip", "type": "integer"},
                ],
            }
        },
        create(table="orders", name="orders_pk", type="primary_key", columns=["id"]),
        create(table="orders", name="orders_code_key", type="unique", columns=["code"]),
        create(
            table="orders",
            name="orders_seller_fkey",
            type="foreign_key",
            columns=["seller_name", "seller_zip"],
            references={"table": "sellers", "columns": ["name", "zip"]},
        ),
    )
    ec.apply(m, through="backfill")
    new = Session(ec_db.url, m.schema_for("public"))
    new.run("INSERT INTO orders VALUES (1, 'a', 'alice', 1)")
    refused(new, "INSERT INTO orders VALUES (2, 'a', 'alice', 1)", "23505")
    refused(new, "INSERT INTO orders VALUES (3, 'b', 'carol', 1)", "23503")
    ec.complete()
    assert constraints(ec_db, "orders") == [
        ("orders_code_key", "u", "UNIQUE (code)", True),
        ("orders_pk", "p", "PRIMARY KEY (id)", True),
        (
            "orders_seller_fkey",
            "f",
            "FOREIGN KEY (seller_name, seller_zip) REFERENCES sellers(name, zip)",
            True,
        ),
    ]


def test_after_rename_table_and_column_in_the_same_migration(ec_db: EcDatabase) -> None:
    """Names in a create_constraint are the new version's (pgroll's multi-operation case)."""
    seed(ec_db)
    ec = engine(ec_db.url)
    m = migration(
        "renamed",
        {"rename_table": {"from": "tickets", "to": "passes"}},
        {"rename_column": {"table": "passes", "from": "price", "to": "cost"}},
        create(table="passes", name="cost_positive", type="check", check="cost > 0"),
        create(
            table="passes",
            name="passes_code_key",
            type="unique",
            columns=["code"],
            up={"code": "coalesce(code, 'none-' || id)"},
        ),
    )
    ec.apply(m, through="backfill")
    new = Session(ec_db.url, m.schema_for("public"))
    refused(new, "UPDATE passes SET cost = 0 WHERE id = 1", "23514")
    refused(new, "INSERT INTO passes (id, code) VALUES (9, 'none-3')", "23505")
    ec.complete()
    assert constraints(ec_db, "passes") == [
        ("cost_positive", "c", "CHECK ((cost > 0))", True),
        ("passes_code_key", "u", "UNIQUE (code)", True),
        ("tickets_pkey", "p", "PRIMARY KEY (id)", True),
    ]


def test_deferrable_and_match_full(ec_db: EcDatabase) -> None:
    seed(ec_db)
    ec = engine(ec_db.url)
    m = migration(
        "options",
        create(
            table="tickets",
            name="code_later",
            type="unique",
            columns=["code"],
            deferrable=True,
            initially_deferred=True,
        ),
        create(
            table="tickets",
            name="seller_full",
            type="foreign_key",
            columns=["seller_name", "seller_zip"],
            references={
                "table": "sellers",
                "columns": ["name", "zip"],
                "match": "full",
                "on_delete": "SET NULL",
                "on_update": "Cascade",
            },
        ),
    )
    ec.apply(m, through="backfill")
    new = Session(ec_db.url, m.schema_for("public"))
    # MATCH FULL: one NULL column and one set is a violation (MATCH SIMPLE would accept it).
    refused(new, "INSERT INTO tickets (id, seller_name) VALUES (9, 'bob')", "23503")
    ec.complete()
    assert constraints(ec_db, "tickets") == [
        ("code_later", "u", "UNIQUE (code) DEFERRABLE INITIALLY DEFERRED", True),
        (
            "seller_full",
            "f",
            "FOREIGN KEY (seller_name, seller_zip) REFERENCES sellers(name, zip)"
            " MATCH FULL ON UPDATE CASCADE ON DELETE SET NULL",
            True,
        ),
        PK_TICKETS,
    ]
    # Deferred: a duplicate within a transaction is fine if resolved before commit.
    with ec_db.connect(autocommit=False) as conn:
        conn.execute("UPDATE tickets SET code = 'c2' WHERE id = 1")
        conn.execute("UPDATE tickets SET code = 'c1' WHERE id = 2")
        conn.commit()


def test_composite_over_a_column_another_operation_duplicates(ec_db: EcDatabase) -> None:
    """Without up/down, on (code, price) where price is changed by an earlier alter_column:
    the constraint goes on the new price column, and survives the swap."""
    seed(ec_db)
    ec = engine(ec_db.url)
    m = migration(
        "mixed",
        {
            "alter_column": {
                "table": "tickets",
                "column": "price",
                "type": "bigint",
                "up": "price::bigint",
                "down": "price::integer",
            }
        },
        create(table="tickets", name="code_price", type="unique", columns=["code", "price"]),
    )
    ec.apply(m, through="backfill")
    new = Session(ec_db.url, m.schema_for("public"))
    refused(new, "INSERT INTO tickets (id, code, price) VALUES (9, 'c1', 10)", "23505")
    ec.complete()
    assert constraints(ec_db, "tickets") == [
        ("code_price", "u", "UNIQUE (code, price)", True),
        PK_TICKETS,
    ]
    assert Session(ec_db.url, None).rows(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = 'tickets'::regclass AND attname = 'price'"
    ) == [("bigint",)]


def test_unique_with_include(ec_db: EcDatabase) -> None:
    seed(ec_db)
    ec = engine(ec_db.url)
    ec.apply(
        migration(
            "include",
            create(
                table="tickets",
                name="code_inc",
                type="unique",
                columns=["code"],
                include=["price", "seller_name"],
            ),
        ),
        through="contract",
    )
    assert ("code_inc", "u", "UNIQUE (code) INCLUDE (price, seller_name)", True) in constraints(
        ec_db, "tickets"
    )


@pytest.mark.parametrize(
    "op",
    [
        create(
            table="t",
            name="n",
            type="foreign_key",
            columns=["a"],
            references={"table": "r", "column": "id", "on_delete": "SET NULL"},
            up={"a": "a + 1"},
            deferrable=True,
        ),
        create(
            table="t",
            name="n",
            type="unique",
            columns=["a", "b"],
            include=["c"],
            nulls_not_distinct=True,
        ),
        {"drop_constraint": {"table": "t", "name": "n", "down": "abs(a)"}},
        {"rename_constraint": {"table": "t", "from": "n", "to": "m"}},
        {
            "alter_column": {
                "table": "t",
                "column": "a",
                "unique": True,
                "check": "a > 0",
                "references": "r(id)",
                "comment": None,
            }
        },
    ],
    ids=["fk", "unique", "drop", "rename", "alter"],
)
def test_spec_round_trips(op: dict[str, Any]) -> None:
    """to_spec() is the checksum input: parsing it again gives the same operation."""
    first = migration("spec", op)
    again = migration("spec", {first.operations[0].kind: first.operations[0].to_spec()})
    assert again.operations[0].to_spec() == first.operations[0].to_spec()
    assert again.checksum == first.checksum


def test_a_row_whose_up_fails_stays_pending_instead_of_failing_the_old_write(
    ec_db: EcDatabase,
) -> None:
    """ec lets the old version's write through when `up` raises on its row (the row stays
    pending, listed, until fixed): a check on the twins must not refuse it meanwhile."""
    seed(ec_db)
    ec = engine(ec_db.url)
    m = migration(
        "pending",
        create(
            table="people",
            name="email_present",
            type="check",
            check="email IS NOT NULL",
            columns=["email"],
            up={
                "email": "CASE WHEN id = 99 THEN (id / (id - 99))::text"
                " ELSE coalesce(email, '-') END"
            },
        ),
    )
    ec.apply(m, through="backfill")
    old, new = Session(ec_db.url, None), Session(ec_db.url, m.schema_for("public"))
    old.run("INSERT INTO people (id, email) VALUES (99, 'x')")
    assert new.rows("SELECT email FROM people WHERE id IN (5, 99) ORDER BY id") == [("-",), (None,)]
    refused(new, "UPDATE people SET email = NULL WHERE id = 1", "23514")
    old.run("UPDATE people SET id = 100 WHERE id = 99")  # fixed: `up` computes it now
    ec.complete()
    assert constraints(ec_db, "people") == [
        ("email_present", "c", "CHECK ((email IS NOT NULL))", True),
        PK_PEOPLE,
    ]
    assert old.rows("SELECT email FROM people WHERE id = 100") == [("x",)]
