"""create_table with table-level constraints, comments, named column checks and references,
and the serial shorthand; named column constraints in add_column. Lifecycle + edge cases."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from expandcontract.operations import MigrationInvalid
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import Session, engine, migration, schema_shape
from tests.engine.lifecycle import Lifecycle, constraints, indexes, run_lifecycle, sqlstate

NAME_63 = "k" * 54 + "_é_é_é"  # 63 bytes, multi-byte characters included
assert len(NAME_63.encode()) == 63

PHONEBOOK: dict[str, Any] = {
    "create_table": {
        "name": "phonebook",
        "comment": "numbers by customer",
        "columns": [
            {"name": "id", "type": "bigserial"},
            {
                "name": "customer_id",
                "type": "bigint",
                "nullable": False,
                "references": {
                    "name": "phonebook_customer_fk",
                    "table": "customers",
                    "column": "id",
                    "on_delete": "cascade",
                },
            },
            {
                "name": "name",
                "type": "text",
                "comment": "display name",
                "check": {
                    "name": "name_present",
                    "constraint": "length(name) > 0",
                    "no_inherit": True,
                },
            },
            {"name": "phone", "type": "text"},
            {"name": "area", "type": "integer"},
            {"name": "title", "type": "text"},
        ],
        "constraints": [
            {
                "type": "primary_key",
                "name": "phonebook_pk",
                "columns": ["id"],
                "storage_parameters": {"fillfactor": 80},
            },
            {
                "type": "unique",
                "name": "unique_numbers",
                "columns": ["phone"],
                "include": ["name"],
                "nulls_not_distinct": True,
                "storage_parameters": {"fillfactor": 90},
            },
            {"type": "check", "name": NAME_63, "check": "area BETWEEN 1 AND 999"},
            {
                "type": "exclude",
                "name": "no_duplicate_titles",
                "method": "btree",
                "elements": [{"column": "title", "with": "="}],
                "include": ["area"],
                "where": "title IS NOT NULL",
            },
        ],
    }
}


def _phonebook_during(old: Session, new: Session) -> None:
    assert new.rows("SELECT id, name FROM phonebook ORDER BY id") == [(1, "ann"), (2, "bob")]
    insert = "INSERT INTO phonebook (customer_id, name, phone, area, title) VALUES "
    assert sqlstate(new, insert + "(1, '', '9', 1, NULL)") == "23514"  # name_present
    assert sqlstate(new, insert + "(1, 'x', '9', 1000, NULL)") == "23514"  # area check
    assert sqlstate(new, insert + "(999, 'x', '9', 1, NULL)") == "23503"  # foreign key
    assert sqlstate(new, insert + "(1, 'x', '555', 1, NULL)") == "23505"  # unique phone
    assert sqlstate(new, insert + "(1, 'x', NULL, 1, NULL)") is None  # first NULL phone
    assert sqlstate(new, insert + "(1, 'y', NULL, 1, NULL)") == "23505"  # NULLS NOT DISTINCT
    assert sqlstate(new, insert + "(2, 'z', '7', 1, 'boss')") is None
    assert sqlstate(new, insert + "(2, 'w', '8', 1, 'boss')") == "23P01"  # exclusion


def test_create_table_with_constraints_comments_and_serial(seeded: EcDatabase) -> None:
    run_lifecycle(
        seeded,
        Lifecycle(
            [PHONEBOOK],
            new_writes=[
                "INSERT INTO phonebook (customer_id, name, phone, area) VALUES"
                " (1, 'ann', '555', 5), (2, 'bob', '556', 6)",
            ],
            during=_phonebook_during,
            final_writes=[
                "INSERT INTO phonebook (customer_id, name, phone, area) VALUES (3, 'cid', '1', 7)"
            ],
            final=_check_phonebook_after_contract,
        ),
    )


def _check_phonebook_after_contract(conn: psycopg.Connection[Any]) -> None:
    _phonebook_final_catalog(conn)
    rows = conn.execute("SELECT customer_id, name FROM phonebook ORDER BY id").fetchall()
    assert rows == [(3, "cid")]  # the re-applied table is new and empty before this write
    conn.execute("INSERT INTO phonebook (customer_id, name, phone, area) VALUES (1, 'd', '2', 1)")
    conn.execute("DELETE FROM customers WHERE id = 1")  # ON DELETE CASCADE, by the kept name
    assert conn.execute("SELECT count(*) FROM phonebook WHERE customer_id = 1").fetchone() == (0,)


def _phonebook_final_catalog(conn: psycopg.Connection[Any]) -> None:
    assert constraints(conn, "phonebook") == {
        "phonebook_pk": "PRIMARY KEY (id)",
        "phonebook_customer_fk": "FOREIGN KEY (customer_id) REFERENCES customers(id)"
        " ON DELETE CASCADE",
        "name_present": "CHECK ((length(name) > 0)) NO INHERIT",
        "unique_numbers": "UNIQUE NULLS NOT DISTINCT (phone) INCLUDE (name)",
        NAME_63: "CHECK (((area >= 1) AND (area <= 999)))",
        "no_duplicate_titles": "EXCLUDE USING btree (title WITH =) INCLUDE (area)"
        " WHERE ((title IS NOT NULL))",
    }
    found = indexes(conn, "phonebook")
    assert found["unique_numbers"] == (
        "CREATE UNIQUE INDEX unique_numbers ON public.phonebook USING btree (phone)"
        " INCLUDE (name) NULLS NOT DISTINCT WITH (fillfactor='90')"
    )
    assert found["phonebook_pk"] == (
        "CREATE UNIQUE INDEX phonebook_pk ON public.phonebook USING btree (id)"
        " WITH (fillfactor='80')"
    )
    comments = conn.execute(
        "SELECT obj_description('phonebook'::regclass, 'pg_class'),"
        " col_description('phonebook'::regclass, 3)"
    ).fetchone()
    assert comments == ("numbers by customer", "display name")
    serial = conn.execute(
        "SELECT pg_get_serial_sequence('public.phonebook', 'id'), pg_get_expr(adbin, adrelid),"
        " format_type(atttypid, atttypmod), attnotnull"
        " FROM pg_attrdef JOIN pg_attribute ON attrelid = adrelid AND attnum = adnum"
        " WHERE adrelid = 'phonebook'::regclass AND attname = 'id'"
    ).fetchone()
    assert serial == (
        "public.phonebook_id_seq",
        "nextval('phonebook_id_seq'::regclass)",
        "bigint",
        True,
    )


def test_composite_keys_and_a_table_referencing_a_table_of_the_same_migration(
    seeded: EcDatabase,
) -> None:
    sellers = {
        "create_table": {
            "name": "sellers",
            "columns": [
                {"name": "name", "type": "text", "nullable": False},
                {"name": "zip", "type": "integer", "nullable": False},
            ],
            "constraints": [
                {"type": "primary_key", "name": "sellers_pk", "columns": ["name", "zip"]}
            ],
        }
    }
    tickets = {
        "create_table": {
            "name": "tickets_v2",
            "columns": [
                {"name": "id", "type": "serial"},
                {"name": "seller_name", "type": "text"},
                {"name": "seller_zip", "type": "integer"},
            ],
            "constraints": [
                {"type": "primary_key", "name": "tickets_v2_pk", "columns": ["id"]},
                {
                    "type": "foreign_key",
                    "name": "tickets_v2_seller_fk",
                    "columns": ["seller_name", "seller_zip"],
                    "references": {
                        "table": "sellers",
                        "columns": ["name", "zip"],
                        "on_delete": "SET NULL",
                        "on_update": "cascade",
                        "match": "full",
                    },
                    "deferrable": True,
                    "initially_deferred": True,
                },
            ],
        }
    }

    def during(old: Session, new: Session) -> None:
        insert = "INSERT INTO tickets_v2 (seller_name, seller_zip) VALUES "
        assert sqlstate(new, insert + "('alice', NULL)") == "23503"  # MATCH FULL: both or none
        assert sqlstate(new, insert + "(NULL, NULL)") is None
        assert sqlstate(new, insert + "('nobody', 1)") == "23503"
        assert sqlstate(new, "INSERT INTO sellers VALUES ('alice', NULL)") == "23502"

    def final(conn: psycopg.Connection[Any]) -> None:
        assert constraints(conn, "tickets_v2") == {
            "tickets_v2_pk": "PRIMARY KEY (id)",
            "tickets_v2_seller_fk": "FOREIGN KEY (seller_name, seller_zip) REFERENCES"
            " sellers(name, zip) MATCH FULL ON UPDATE CASCADE ON DELETE SET NULL"
            " DEFERRABLE INITIALLY DEFERRED",
        }
        conn.execute("UPDATE sellers SET zip = 2 WHERE name = 'alice'")
        assert conn.execute("SELECT seller_zip FROM tickets_v2").fetchall() == [(2,)]
        conn.execute("DELETE FROM sellers")
        assert conn.execute("SELECT seller_name, seller_zip FROM tickets_v2").fetchall() == [
            (None, None)
        ]

    run_lifecycle(
        seeded,
        Lifecycle(
            [sellers, tickets],
            new_writes=["INSERT INTO sellers VALUES ('alice', 1)"],
            during=during,
            final_writes=[
                "INSERT INTO sellers VALUES ('alice', 1)",
                "INSERT INTO tickets_v2 (seller_name, seller_zip) VALUES ('alice', 1)",
            ],
            final=final,
        ),
    )


def test_a_name_given_to_a_column_check_or_reference_is_the_constraints_name_later(
    seeded: EcDatabase,
) -> None:
    """The names users give are kept: a later migration finds the constraints by them."""
    ec = engine(seeded.url)
    ec.apply(
        migration(
            "m1",
            {
                "create_table": {
                    "name": "orders",
                    "columns": [
                        {"name": "id", "type": "serial", "primary_key": True},
                        {"name": "line", "type": "smallserial"},
                        {
                            "name": "user_id",
                            "type": "bigint",
                            "references": {
                                "name": NAME_63,
                                "table": "users",
                                "column": "id",
                                "on_update": "CASCADE",
                                "match": "full",
                                "deferrable": True,
                            },
                        },
                        {
                            "name": "total",
                            "type": "integer",
                            "check": {"name": "total_positive", "expression": "total > 0"},
                        },
                    ],
                }
            },
        )
    )
    ec.complete()
    with seeded.connect() as conn:
        found = constraints(conn, "orders")
        assert found == {
            "orders_pkey": "PRIMARY KEY (id)",
            NAME_63: "FOREIGN KEY (user_id) REFERENCES users(id) MATCH FULL ON UPDATE CASCADE"
            " DEFERRABLE",
            "total_positive": "CHECK ((total > 0))",
        }
        assert conn.execute(
            "SELECT format_type(atttypid, atttypmod), attnotnull,"
            " pg_get_serial_sequence('public.orders', 'line') FROM pg_attribute"
            " WHERE attrelid = 'orders'::regclass AND attname = 'line'"
        ).fetchone() == ("smallint", True, "public.orders_line_seq")
    ec.apply(
        migration(
            "m2",
            {
                "sql": {
                    "up": f'ALTER TABLE orders RENAME CONSTRAINT "{NAME_63}" TO orders_user_fk',
                    "down": f'ALTER TABLE orders RENAME CONSTRAINT orders_user_fk TO "{NAME_63}"',
                }
            },
            {
                "sql": {
                    "up": "ALTER TABLE orders DROP CONSTRAINT total_positive",
                    "down": "ALTER TABLE orders ADD CONSTRAINT total_positive CHECK (total > 0)",
                }
            },
        )
    )
    ec.complete()
    with seeded.connect() as conn:
        assert set(constraints(conn, "orders")) == {"orders_pkey", "orders_user_fk"}


def test_add_column_keeps_the_names_of_its_check_and_reference(seeded: EcDatabase) -> None:
    def during(old: Session, new: Session) -> None:
        assert sqlstate(new, "UPDATE users SET owner_id = 999 WHERE id = 1") == "23503"
        assert sqlstate(new, "UPDATE users SET owner_id = -1 WHERE id = 1") == "23514"

    def final(conn: psycopg.Connection[Any]) -> None:
        found = constraints(conn, "users")
        assert found["users_owner_fk"] == (
            "FOREIGN KEY (owner_id) REFERENCES customers(id) ON DELETE SET NULL"
        )
        assert found["owner_positive"] == "CHECK ((owner_id > 0))"
        assert conn.execute(
            "SELECT col_description('users'::regclass, attnum) FROM pg_attribute"
            " WHERE attrelid = 'users'::regclass AND attname = 'owner_id'"
        ).fetchone() == ("who owns the account",)
        conn.execute("DELETE FROM customers WHERE id = 2")
        assert conn.execute("SELECT owner_id FROM users WHERE id = 2").fetchone() == (None,)

    run_lifecycle(
        seeded,
        Lifecycle(
            [
                {
                    "add_column": {
                        "table": "users",
                        "column": {
                            "name": "owner_id",
                            "type": "bigint",
                            "comment": "who owns the account",
                            "check": {"name": "owner_positive", "expression": "owner_id > 0"},
                            "references": {
                                "name": "users_owner_fk",
                                "table": "customers",
                                "column": "id",
                                "on_delete": "set null",
                            },
                        },
                        "up": "CASE WHEN id <= 50 THEN id END",
                    }
                }
            ],
            old_writes=["INSERT INTO users (id, email) VALUES (1001, 'old@x')"],
            during=during,
            final=final,
        ),
    )


REFUSED = [
    (
        "two primary keys",
        {
            "name": "t",
            "columns": [{"name": "id", "type": "int", "primary_key": True}],
            "constraints": [{"type": "primary_key", "name": "t_pk", "columns": ["id"]}],
        },
        "more than one primary key",
    ),
    (
        "unknown column in a constraint",
        {
            "name": "t",
            "columns": [{"name": "id", "type": "int"}],
            "constraints": [{"type": "unique", "name": "t_u", "columns": ["nope"]}],
        },
        "are not columns of 't'",
    ),
    (
        "a name of 64 bytes",
        {
            "name": "t",
            "columns": [{"name": "id", "type": "int"}],
            "constraints": [{"type": "unique", "name": NAME_63 + "x", "columns": ["id"]}],
        },
        "longer than 63 bytes",
    ),
    (
        "a name used twice",
        {
            "name": "t",
            "columns": [
                {"name": "id", "type": "int", "check": {"name": "c", "expression": "id > 0"}}
            ],
            "constraints": [{"type": "check", "name": "c", "check": "id < 9"}],
        },
        "used twice: c",
    ),
    (
        "deferrable check",
        {
            "name": "t",
            "columns": [{"name": "id", "type": "int"}],
            "constraints": [{"type": "check", "name": "c", "check": "id > 0", "deferrable": True}],
        },
        "unknown field",
    ),
    (
        "fk column count",
        {
            "name": "t",
            "columns": [{"name": "a", "type": "int"}],
            "constraints": [
                {
                    "type": "foreign_key",
                    "name": "f",
                    "columns": ["a"],
                    "references": {"table": "users", "columns": ["id", "email"]},
                }
            ],
        },
        "the lists must match",
    ),
    (
        "match partial",
        {
            "name": "t",
            "columns": [
                {
                    "name": "a",
                    "type": "bigint",
                    "references": {"table": "users", "column": "id", "match": "partial"},
                }
            ],
        },
        "match must be simple or full",
    ),
    (
        "storage parameter not of btree",
        {
            "name": "t",
            "columns": [{"name": "a", "type": "int"}],
            "constraints": [
                {
                    "type": "unique",
                    "name": "u",
                    "columns": ["a"],
                    "storage_parameters": {"fastupdate": True},
                }
            ],
        },
        "does not exist for btree",
    ),
    (
        "fillfactor out of range",
        {
            "name": "t",
            "columns": [{"name": "a", "type": "int"}],
            "constraints": [
                {
                    "type": "unique",
                    "name": "u",
                    "columns": ["a"],
                    "storage_parameters": {"fillfactor": 5},
                }
            ],
        },
        "from 10 to 100",
    ),
    (
        "hostile check",
        {
            "name": "t",
            "columns": [{"name": "a", "type": "int"}],
            "constraints": [{"type": "check", "name": "c", "check": "true); DROP TABLE users; --"}],
        },
        "closes a bracket",
    ),
    (
        "hostile exclusion element",
        {
            "name": "t",
            "columns": [{"name": "a", "type": "int"}],
            "constraints": [
                {
                    "type": "exclude",
                    "name": "x",
                    "elements": [{"expression": "a) WITH =); DROP TABLE users; --", "with": "="}],
                }
            ],
        },
        "closes a bracket",
    ),
    (
        "hostile exclusion operator",
        {
            "name": "t",
            "columns": [{"name": "a", "type": "int"}],
            "constraints": [
                {
                    "type": "exclude",
                    "name": "x",
                    "elements": [{"column": "a", "with": "= ) ; DROP TABLE users"}],
                }
            ],
        },
        "with must be an operator",
    ),
    (
        "an exclusion operator opening a comment",
        {
            "name": "t",
            "columns": [{"name": "a", "type": "int"}],
            "constraints": [
                {"type": "exclude", "name": "x", "elements": [{"column": "a", "with": "=/*"}]}
            ],
        },
        "with must be an operator",
    ),
    (
        "hostile where of an exclusion",
        {
            "name": "t",
            "columns": [{"name": "a", "type": "int"}],
            "constraints": [
                {
                    "type": "exclude",
                    "name": "x",
                    "elements": [{"column": "a", "with": "="}],
                    "where": "(a > 0)) ; DROP TABLE users; --",
                }
            ],
        },
        "closes a bracket",
    ),
    (
        "hostile default",
        {"name": "t", "columns": [{"name": "a", "type": "int", "default": "1; DROP TABLE users"}]},
        "contains ';'",
    ),
    (
        "check reading an unknown column",
        {
            "name": "t",
            "columns": [{"name": "a", "type": "int"}],
            "constraints": [{"type": "check", "name": "c", "check": "b > 0"}],
        },
        "is not valid",
    ),
    (
        "exclusion over a type without an operator class for the method",
        {
            "name": "t",
            "columns": [{"name": "a", "type": "text"}],
            "constraints": [
                {"type": "exclude", "name": "x", "elements": [{"column": "a", "with": "="}]}
            ],
        },
        "no default operator class",
    ),
    (
        "exclusion operator that does not exist",
        {
            "name": "t",
            "columns": [{"name": "a", "type": "int"}],
            "constraints": [
                {
                    "type": "exclude",
                    "name": "x",
                    "method": "btree",
                    "elements": [{"column": "a", "with": "<~>"}],
                }
            ],
        },
        "does not exist",
    ),
    (
        "serial with a default",
        {"name": "t", "columns": [{"name": "a", "type": "serial", "default": "1"}]},
        "takes no default",
    ),
    (
        "reference to a missing table",
        {
            "name": "t",
            "columns": [{"name": "a", "type": "int"}],
            "constraints": [
                {
                    "type": "foreign_key",
                    "name": "f",
                    "columns": ["a"],
                    "references": {"table": "nowhere", "columns": ["id"]},
                }
            ],
        },
        "unknown table",
    ),
    (
        "a constraint name that is an existing relation",
        {
            "name": "t",
            "columns": [{"name": "a", "type": "int"}],
            "constraints": [{"type": "unique", "name": "users_pkey", "columns": ["a"]}],
        },
        "the name is taken",
    ),
]


@pytest.mark.parametrize(("body", "message"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_bad_create_table_is_refused_before_anything_runs(
    seeded: EcDatabase, body: dict[str, Any], message: str
) -> None:
    with seeded.connect() as conn:
        before = schema_shape(conn)
    with pytest.raises(MigrationInvalid, match=message):
        engine(seeded.url).apply(migration("bad", {"create_table": body}))
    with seeded.connect() as conn:
        assert schema_shape(conn) == before
        assert conn.execute("SELECT to_regclass('public.t')").fetchone() == (None,)


def test_add_column_refuses_serial_with_a_hint(seeded: EcDatabase) -> None:
    with pytest.raises(MigrationInvalid, match="shorthand") as caught:
        engine(seeded.url).apply(
            migration(
                "serial",
                {"add_column": {"table": "users", "column": {"name": "n", "type": "serial"}}},
            )
        )
    assert "nextval" in str(caught.value.hint)


def test_add_column_refuses_a_check_name_the_table_already_has(seeded: EcDatabase) -> None:
    with pytest.raises(MigrationInvalid, match="already has a constraint 'users_pkey'"):
        engine(seeded.url).apply(
            migration(
                "dup",
                {
                    "add_column": {
                        "table": "users",
                        "column": {
                            "name": "n",
                            "type": "int",
                            "check": {"name": "users_pkey", "expression": "n > 0"},
                        },
                    }
                },
            )
        )


def test_spec_round_trips_every_new_field() -> None:
    """to_spec (the checksum input) gives back what was written, old spellings unchanged."""
    m = migration("spec", PHONEBOOK)
    again = migration("spec", {"create_table": m.operations[0].to_spec()})
    assert again.checksum == m.checksum
    plain = {"name": "c", "type": "int", "check": "c > 0", "references": "users(id)"}
    op = migration("p", {"create_table": {"name": "t", "columns": [plain]}}).operations[0]
    assert op.to_spec()["columns"] == [plain]
