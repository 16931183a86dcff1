"""create_constraint through the whole lifecycle, with and without up/down (pgroll's cases),
and the plan it makes."""

from __future__ import annotations

import pytest

from expandcontract.backfill.errors import BackfillRowError
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.constraint_lifecycle import (
    Case,
    constraints,
    create,
    run,
    seed,
)
from tests.engine.harness import Session, engine, migration, schema_shape

PK_TICKETS = ("tickets_pkey", "p", "PRIMARY KEY (id)", True)
PK_PEOPLE = ("people_pkey", "p", "PRIMARY KEY (id)", True)
NAME_63 = "c" * 61 + "é"  # 63 bytes: é is two bytes in UTF-8


CASES = [
    Case(
        "unique_in_place",
        [create(table="tickets", name="tickets_code_key", type="unique", columns=["code"])],
        old_writes=["INSERT INTO tickets (id, code) VALUES (6, 'c6'), (7, NULL)"],
        new_writes=["INSERT INTO tickets (id, code) VALUES (8, 'c8'), (9, NULL)"],
        during=[("new", "SELECT count(*) FROM tickets WHERE code IS NULL", [(4,)])],
        # Without up/down the constraint binds both versions at once.
        refused=[
            ("old", "INSERT INTO tickets (id, code) VALUES (10, 'c1')", "23505"),
            ("new", "INSERT INTO tickets (id, code) VALUES (11, 'c8')", "23505"),
        ],
        final=[("SELECT count(*) FROM tickets WHERE code IS NULL", [(4,)])],
        final_constraints=[("tickets_code_key", "u", "UNIQUE (code)", True), PK_TICKETS],
        refused_after=[("INSERT INTO tickets (id, code) VALUES (12, 'c2')", "23505")],
    ),
    Case(
        "unique_with_up_rewrites_duplicates",
        [
            create(
                table="people",
                name="people_email_key",
                type="unique",
                columns=["email"],
                up={"email": "email || '#' || id"},
                down={"email": "email"},
            )
        ],
        table="people",
        # The old version keeps writing unconstrained: a duplicate goes through.
        old_writes=["INSERT INTO people (id, email) VALUES (6, 'b@x')"],
        new_writes=["INSERT INTO people (id, email) VALUES (7, 'new@x')"],
        during=[
            (
                "new",
                "SELECT email FROM people ORDER BY id",
                [("a@x#1",), ("a@x#2",), ("b@x#3",), (None,), (None,), ("b@x#6",), ("new@x",)],
            ),
            (
                "old",
                "SELECT email FROM people WHERE id IN (6, 7) ORDER BY id",
                [("b@x",), ("new@x",)],
            ),
        ],
        refused=[("new", "INSERT INTO people (id, email) VALUES (8, 'new@x')", "23505")],
        final=[
            (
                "SELECT email FROM people ORDER BY id",
                # After the rollback the second backfill recomputes row 7 through `up` too.
                [("a@x#1",), ("a@x#2",), ("b@x#3",), (None,), (None,), ("b@x#6",), ("new@x#7",)],
            )
        ],
        final_constraints=[("people_email_key", "u", "UNIQUE (email)", True), PK_PEOPLE],
        refused_after=[("INSERT INTO people (id, email) VALUES (9, 'a@x#1')", "23505")],
    ),
    Case(
        "unique_nulls_not_distinct_with_up",
        [
            create(
                table="tickets",
                name="tickets_code_nnd",
                type="unique",
                columns=["code"],
                nulls_not_distinct=True,
                up={"code": "coalesce(code, 'none-' || id)"},
            )
        ],
        old_writes=["INSERT INTO tickets (id) VALUES (6)"],
        # The NULLS NOT DISTINCT index is built at contract (after the backfill): until then
        # the new version may write two NULLs.
        new_writes=["INSERT INTO tickets (id, code) VALUES (7, NULL), (8, NULL)"],
        during=[
            (
                "new",
                "SELECT code FROM tickets WHERE id IN (3, 6, 7, 8) ORDER BY id",
                [("none-3",), ("none-6",), (None,), (None,)],
            ),
        ],
        final=[("SELECT count(*) FROM tickets WHERE code IS NULL", [(0,)])],
        final_constraints=[
            ("tickets_code_nnd", "u", "UNIQUE NULLS NOT DISTINCT (code)", True),
            PK_TICKETS,
        ],
        # NULLS NOT DISTINCT: a second NULL is a duplicate.
        refused_after=[("INSERT INTO tickets (id, code) VALUES (20, NULL), (21, NULL)", "23505")],
    ),
    Case(
        "check_in_place",
        [create(table="tickets", name="tickets_price_check", type="check", check="price > 0")],
        old_writes=["INSERT INTO tickets (id, price) VALUES (6, 60)"],
        new_writes=["INSERT INTO tickets (id, price) VALUES (7, NULL)"],  # NULL passes a CHECK
        refused=[
            ("old", "UPDATE tickets SET price = -1 WHERE id = 1", "23514"),
            ("new", "UPDATE tickets SET price = 0 WHERE id = 2", "23514"),
        ],
        final=[("SELECT count(*) FROM tickets", [(7,)])],
        final_constraints=[("tickets_price_check", "c", "CHECK ((price > 0))", True), PK_TICKETS],
        refused_after=[("UPDATE tickets SET price = -3 WHERE id = 1", "23514")],
    ),
    Case(
        "check_with_up_two_columns",
        [
            create(
                table="people",
                name="age_and_email",
                type="check",
                columns=["age", "email"],
                check="age >= 0 AND email IS NOT NULL",
                up={"age": "greatest(age, 0)", "email": "coalesce(email, 'none')"},
                down={"email": "nullif(email, 'none')"},
            )
        ],
        table="people",
        old_writes=["INSERT INTO people VALUES (6, NULL, -7)"],
        new_writes=["INSERT INTO people VALUES (7, 'none', 5)"],
        during=[
            (
                "new",
                "SELECT email, age FROM people WHERE id IN (3, 5, 6, 7) ORDER BY id",
                [("b@x", 0), ("none", 0), ("none", 0), ("none", 5)],
            ),
            (
                "old",
                "SELECT email, age FROM people WHERE id IN (3, 6, 7) ORDER BY id",
                [("b@x", -5), (None, -7), (None, 5)],
            ),
        ],
        refused=[("new", "UPDATE people SET age = -1 WHERE id = 1", "23514")],
        final=[("SELECT age FROM people WHERE id IN (3, 6) ORDER BY id", [(0,), (0,)])],
        final_constraints=[
            ("age_and_email", "c", "CHECK (((age >= 0) AND (email IS NOT NULL)))", True),
            PK_PEOPLE,
        ],
        refused_after=[("UPDATE people SET email = NULL WHERE id = 1", "23514")],
    ),
    Case(
        "foreign_key_composite_cascade_in_place",
        [
            create(
                table="tickets",
                name="tickets_seller_fkey",
                type="foreign_key",
                columns=["seller_name", "seller_zip"],
                references={"table": "sellers", "columns": ["name", "zip"], "on_delete": "CASCADE"},
            )
        ],
        old_writes=["INSERT INTO tickets (id, seller_name, seller_zip) VALUES (6, 'bob', 2)"],
        new_writes=["INSERT INTO tickets (id, seller_name, seller_zip) VALUES (7, 'bob', NULL)"],
        refused=[
            (
                "old",
                "INSERT INTO tickets (id, seller_name, seller_zip) VALUES (8, 'carol', 3)",
                "23503",
            ),
            (
                "new",
                "INSERT INTO tickets (id, seller_name, seller_zip) VALUES (9, 'bob', 1)",
                "23503",
            ),
        ],
        final=[
            (
                "WITH d AS (DELETE FROM sellers WHERE name = 'bob' RETURNING 1)"
                " SELECT count(*) FROM d",
                [(1,)],
            ),
            # MATCH SIMPLE: (bob, NULL) references nothing and stays.
            ("SELECT id FROM tickets ORDER BY id", [(1,), (3,), (4,), (7,)]),
        ],
        final_constraints=[
            PK_TICKETS,
            (
                "tickets_seller_fkey",
                "f",
                "FOREIGN KEY (seller_name, seller_zip) REFERENCES sellers(name, zip)"
                " ON DELETE CASCADE",
                True,
            ),
        ],
    ),
    Case(
        "foreign_key_with_up_set_null",
        [
            create(
                table="tickets",
                name="tickets_seller_fkey",
                type="foreign_key",
                columns=["seller_name", "seller_zip"],
                references={
                    "table": "sellers",
                    "columns": ["name", "zip"],
                    "on_delete": "set_null",
                },
                up={
                    "seller_name": "CASE WHEN seller_name IN ('alice', 'bob') THEN seller_name END",
                    "seller_zip": "CASE WHEN seller_name IN ('alice', 'bob') THEN seller_zip END",
                },
            )
        ],
        # The old version is not bound: an orphan goes through, the new version sees NULLs.
        old_writes=["INSERT INTO tickets (id, seller_name, seller_zip) VALUES (6, 'zed', 9)"],
        new_writes=["INSERT INTO tickets (id, seller_name, seller_zip) VALUES (7, 'bob', 2)"],
        during=[
            ("new", "SELECT seller_name, seller_zip FROM tickets WHERE id = 6", [(None, None)]),
            ("old", "SELECT seller_name, seller_zip FROM tickets WHERE id = 6", [("zed", 9)]),
            ("old", "SELECT seller_name FROM tickets WHERE id = 7", [("bob",)]),
        ],
        refused=[
            (
                "new",
                "INSERT INTO tickets (id, seller_name, seller_zip) VALUES (8, 'carol', 3)",
                "23503",
            ),
        ],
        final=[
            (
                "WITH d AS (DELETE FROM sellers WHERE name = 'alice' RETURNING 1)"
                " SELECT count(*) FROM d",
                [(1,)],
            ),
            (
                "SELECT id, seller_name, seller_zip FROM tickets WHERE id IN (1, 4, 6) ORDER BY id",
                [(1, None, None), (4, None, None), (6, None, None)],
            ),
        ],
        final_constraints=[
            PK_TICKETS,
            (
                "tickets_seller_fkey",
                "f",
                "FOREIGN KEY (seller_name, seller_zip) REFERENCES sellers(name, zip)"
                " ON DELETE SET NULL",
                True,
            ),
        ],
    ),
    Case(
        "primary_key_in_place_on_table_without_one",
        [create(table="events", name="events_pkey", type="primary_key", columns=["a"])],
        table="events",
        old_writes=["INSERT INTO events VALUES (4, 'z')"],
        new_writes=["INSERT INTO events VALUES (5, 'w')"],
        refused=[
            ("old", "INSERT INTO events VALUES (1, 'dup')", "23505"),
            ("old", "INSERT INTO events (b) VALUES ('no key')", "23514"),  # NOT NULL, as CHECK
            ("new", "INSERT INTO events VALUES (2, 'dup')", "23505"),
        ],
        final=[
            (
                "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'events'::regclass"
                " AND attname = 'a'",
                [(True,)],
            ),
        ],
        final_constraints=[("events_pkey", "p", "PRIMARY KEY (a)", True)],
        refused_after=[("INSERT INTO events VALUES (3, 'dup')", "23505")],
    ),
    Case(
        "primary_key_composite_with_up",
        [
            create(
                table="events",
                name="events_pk",
                type="primary_key",
                columns=["a", "b"],
                up={"b": "coalesce(b, 'none')"},
            )
        ],
        table="events",
        old_writes=["INSERT INTO events VALUES (4, NULL)"],
        new_writes=["INSERT INTO events VALUES (5, 'n')"],
        during=[
            (
                "new",
                "SELECT a, b FROM events ORDER BY a",
                [(1, "x"), (2, "y"), (3, "none"), (4, "none"), (5, "n")],
            ),
            ("old", "SELECT b FROM events WHERE a IN (3, 4) ORDER BY a", [(None,), (None,)]),
        ],
        refused=[("new", "INSERT INTO events VALUES (1, 'x')", "23505")],
        final=[("SELECT count(*) FROM events WHERE b = 'none'", [(2,)])],
        final_constraints=[("events_pk", "p", "PRIMARY KEY (a, b)", True)],
        refused_after=[("INSERT INTO events VALUES (2, 'y')", "23505")],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_create_constraint_lifecycle(ec_db: EcDatabase, case: Case) -> None:
    seed(ec_db)
    run(ec_db, case)


def test_name_of_exactly_63_bytes_is_kept(ec_db: EcDatabase) -> None:
    seed(ec_db)
    ec = engine(ec_db.url)
    ec.apply(
        migration("m63", create(table="tickets", name=NAME_63, type="unique", columns=["code"])),
        through="contract",
    )
    assert (NAME_63, "u", "UNIQUE (code)", True) in constraints(ec_db, "tickets")


def test_up_that_still_collides_fails_clearly_and_rolls_back_clean(ec_db: EcDatabase) -> None:
    seed(ec_db)
    with ec_db.connect() as conn:
        before = schema_shape(conn)
    ec = engine(ec_db.url)
    m = migration(
        "collide",
        create(
            table="people",
            name="people_email_key",
            type="unique",
            columns=["email"],
            up={"email": "lower(email)"},
        ),
    )
    ec.apply(m, through="expand")
    # Both a@x rows get the same new value: the new version cannot have them both.
    with pytest.raises(BackfillRowError) as info:
        ec.apply(m, through="contract")
    assert "row (id)=(2) of public.people" in str(info.value)
    assert 'violates unique constraint "people_email_key"' in str(info.value)
    ec.rollback()
    with ec_db.connect() as conn:
        assert schema_shape(conn) == before
    assert Session(ec_db.url, None).rows("SELECT count(*) FROM people WHERE email = 'a@x'") == [
        (2,)
    ]


def test_plan_is_lock_safe(ec_db: EcDatabase) -> None:
    """Expand adds CHECK/FK NOT VALID and builds unique indexes CONCURRENTLY; contract
    validates and attaches USING INDEX: no statement scans under ACCESS EXCLUSIVE."""
    seed(ec_db)
    m = migration(
        "plan",
        create(table="tickets", name="t_check", type="check", check="price > 0"),
        create(
            table="tickets",
            name="t_fk",
            type="foreign_key",
            columns=["seller_name", "seller_zip"],
            references={"table": "sellers", "columns": ["name", "zip"]},
        ),
        create(table="tickets", name="t_code", type="unique", columns=["code"]),
        create(table="events", name="e_pk", type="primary_key", columns=["a"]),
    )
    plan = engine(ec_db.url).plan(m).to_json()
    expand = [s for step in plan["phases"]["expand"] for s in step["statements"]]
    contract = [s for step in plan["phases"]["contract"] for s in step["statements"]]
    assert any('"t_check" CHECK (price > 0) NOT VALID' in s for s in expand), expand
    assert any('"t_fk" FOREIGN KEY' in s and s.endswith("NOT VALID") for s in expand), expand
    assert any('CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "t_code"' in s for s in expand)
    assert any('CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "e_pk"' in s for s in expand)
    assert any('VALIDATE CONSTRAINT "t_check"' in s for s in contract)
    assert any('VALIDATE CONSTRAINT "t_fk"' in s for s in contract)
    assert any('"t_code" UNIQUE USING INDEX "t_code"' in s for s in contract)
    # The primary key's column is proved NOT NULL by a validated CHECK before USING INDEX.
    set_not_null = next(i for i, s in enumerate(contract) if '"a" SET NOT NULL' in s)
    attach = next(i for i, s in enumerate(contract) if '"e_pk" PRIMARY KEY USING INDEX' in s)
    assert set_not_null < attach
