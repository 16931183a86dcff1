"""drop_constraint through the whole lifecycle (catalog-only, and with up/down: twins without
the constraint), same-name replace (drop X + create X), and what is refused up front."""

from __future__ import annotations

from typing import Any

import pytest

from expandcontract.operations.base import MigrationInvalid
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.constraint_lifecycle import Case, constraints, refused, run, seed
from tests.engine.harness import Session, engine, migration, schema_shape

EXTRA = [
    "ALTER TABLE tickets ADD CONSTRAINT price_positive CHECK (price > 0)",
    "ALTER TABLE tickets ADD CONSTRAINT tickets_code_key UNIQUE (code)",
    "ALTER TABLE tickets ADD CONSTRAINT tickets_seller_fkey FOREIGN KEY (seller_name, seller_zip)"
    " REFERENCES sellers (name, zip)",
    "COMMENT ON COLUMN tickets.code IS 'ticket code'",
]
PK = ("tickets_pkey", "p", "PRIMARY KEY (id)", True)
CHECK = ("price_positive", "c", "CHECK ((price > 0))", True)
UNIQUE = ("tickets_code_key", "u", "UNIQUE (code)", True)
FK = (
    "tickets_seller_fkey",
    "f",
    "FOREIGN KEY (seller_name, seller_zip) REFERENCES sellers(name, zip)",
    True,
)


def drop(**fields: Any) -> dict[str, Any]:
    return {"drop_constraint": fields}


def create(**fields: Any) -> dict[str, Any]:
    return {"create_constraint": fields}


def seeded(db: EcDatabase) -> EcDatabase:
    seed(db)
    with db.connect() as conn:
        for statement in EXTRA:
            conn.execute(statement)
    return db


def set_price(row: int, price: int) -> str:
    return f"WITH u AS (UPDATE tickets SET price = {price} WHERE id = {row} RETURNING price)" + (
        " SELECT price FROM u"
    )


CASES = [
    Case(
        "check_catalog_only",
        [drop(table="tickets", name="price_positive")],
        # Without up/down the constraint binds both versions until contract drops it.
        refused=[
            ("old", "UPDATE tickets SET price = -1 WHERE id = 1", "23514"),
            ("new", "UPDATE tickets SET price = -1 WHERE id = 1", "23514"),
        ],
        final=[(set_price(1, -1), [(-1,)])],
        final_constraints=[PK, UNIQUE, FK],
    ),
    Case(
        "check_with_down",
        [drop(table="tickets", name="price_positive", down="greatest(price, 1)")],
        new_writes=["INSERT INTO tickets (id, price) VALUES (7, -5)"],
        old_writes=["INSERT INTO tickets (id, price) VALUES (6, 60)"],
        during=[
            ("new", "SELECT price FROM tickets WHERE id IN (6, 7) ORDER BY id", [(60,), (-5,)]),
            ("old", "SELECT price FROM tickets WHERE id IN (6, 7) ORDER BY id", [(60,), (1,)]),
        ],
        # The old version's column keeps the constraint; the new version's twin does not.
        refused=[("old", "UPDATE tickets SET price = -1 WHERE id = 1", "23514")],
        final=[
            ("SELECT price FROM tickets WHERE id = 7", [(1,)]),  # recomputed after the rollback
            (set_price(1, -2), [(-2,)]),
            ("SELECT col_description('tickets'::regclass, 4)", [("ticket code",)]),
        ],
        final_constraints=[PK, UNIQUE, FK],
    ),
    Case(
        "unique_with_down",
        [drop(table="tickets", name="tickets_code_key", down={"code": "code || '-' || id"})],
        new_writes=["INSERT INTO tickets (id, code) VALUES (6, 'c1')"],
        during=[
            ("new", "SELECT code FROM tickets WHERE id IN (1, 6) ORDER BY id", [("c1",), ("c1",)]),
            ("old", "SELECT code FROM tickets WHERE id = 6", [("c1-6",)]),
        ],
        refused=[("old", "INSERT INTO tickets (id, code) VALUES (8, 'c2')", "23505")],
        final=[
            ("SELECT count(*) FROM pg_indexes WHERE indexname LIKE '%code%'", [(0,)]),
            (
                "WITH i AS (INSERT INTO tickets (id, code) VALUES (9, 'c2') RETURNING id)"
                " SELECT count(*) FROM i",
                [(1,)],
            ),
            # The column's other settings travel with the twin.
            ("SELECT col_description('tickets'::regclass, 4) IS NULL", [(True,)]),
            (
                "SELECT col_description('tickets'::regclass, attnum) FROM pg_attribute"
                " WHERE attrelid = 'tickets'::regclass AND attname = 'code'",
                [("ticket code",)],
            ),
        ],
        final_constraints=[PK, CHECK, FK],
    ),
    Case(
        "foreign_key_multicolumn_with_down",
        [
            drop(
                table="tickets",
                name="tickets_seller_fkey",
                down={
                    "seller_name": "CASE WHEN seller_name IN ('alice', 'bob') THEN seller_name END",
                    "seller_zip": "CASE WHEN seller_name IN ('alice', 'bob') THEN seller_zip END",
                },
            )
        ],
        new_writes=["INSERT INTO tickets (id, seller_name, seller_zip) VALUES (6, 'carol', 3)"],
        during=[
            ("new", "SELECT seller_name, seller_zip FROM tickets WHERE id = 6", [("carol", 3)]),
            ("old", "SELECT seller_name, seller_zip FROM tickets WHERE id = 6", [(None, None)]),
        ],
        refused=[
            (
                "old",
                "INSERT INTO tickets (id, seller_name, seller_zip) VALUES (7, 'carol', 3)",
                "23503",
            ),
        ],
        final=[("SELECT count(*) FROM tickets WHERE seller_name IS NULL", [(2,)])],
        final_constraints=[PK, CHECK, UNIQUE],
    ),
    Case(
        "primary_key_catalog_only",
        [drop(table="people", name="people_pkey")],
        table="people",
        refused=[("new", "INSERT INTO people (id) VALUES (1)", "23505")],
        final=[
            ("SELECT count(*) FROM pg_indexes WHERE indexname = 'people_pkey'", [(0,)]),
            (
                "WITH i AS (INSERT INTO people (id) VALUES (1) RETURNING id)"
                " SELECT count(*) FROM i",
                [(1,)],
            ),
        ],
        final_constraints=[],
    ),
    # Same-name replace: the new X is built under a temporary name and takes X at contract.
    Case(
        "replace_check_same_name",
        [
            drop(table="tickets", name="price_positive"),
            create(table="tickets", name="price_positive", type="check", check="price >= 10"),
        ],
        # Both constraints hold while both versions run (neither has up/down).
        refused=[
            ("old", "UPDATE tickets SET price = 5 WHERE id = 1", "23514"),
            ("new", "UPDATE tickets SET price = -1 WHERE id = 1", "23514"),
        ],
        final=[(set_price(1, 10), [(10,)])],
        final_constraints=[PK, ("price_positive", "c", "CHECK ((price >= 10))", True), UNIQUE, FK],
    ),
    Case(
        "replace_unique_same_name_wider",
        [
            drop(table="tickets", name="tickets_code_key"),
            create(
                table="tickets",
                name="tickets_code_key",
                type="unique",
                columns=["code", "seller_name"],
            ),
        ],
        final=[
            (
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'tickets_code_key'",
                [
                    (
                        "CREATE UNIQUE INDEX tickets_code_key ON public.tickets USING btree (code,"
                        " seller_name)",
                    )
                ],
            ),
        ],
        final_constraints=[
            PK,
            CHECK,
            ("tickets_code_key", "u", "UNIQUE (code, seller_name)", True),
            FK,
        ],
    ),
    Case(
        "replace_check_same_name_with_down",
        [
            drop(table="tickets", name="price_positive", down="greatest(price, 1)"),
            create(table="tickets", name="price_positive", type="check", check="price <> 13"),
        ],
        new_writes=["INSERT INTO tickets (id, price) VALUES (7, -5)"],
        refused=[("new", "UPDATE tickets SET price = 13 WHERE id = 1", "23514")],
        final=[("SELECT price FROM tickets WHERE id = 7", [(1,)])],
        final_constraints=[PK, ("price_positive", "c", "CHECK ((price <> 13))", True), UNIQUE, FK],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_drop_constraint_lifecycle(ec_db: EcDatabase, case: Case) -> None:
    run(seeded(ec_db), case)


def test_rollback_of_same_name_replace_keeps_the_old_constraint(ec_db: EcDatabase) -> None:
    seeded(ec_db)
    before = constraints(ec_db, "tickets")
    with ec_db.connect() as conn:
        shape = schema_shape(conn)
    ec = engine(ec_db.url)
    m = migration(
        "replace",
        drop(table="tickets", name="tickets_code_key"),
        create(table="tickets", name="tickets_code_key", type="unique", columns=["code", "price"]),
        drop(table="tickets", name="price_positive"),
        create(table="tickets", name="price_positive", type="check", check="price >= 10"),
    )
    ec.apply(m, through="backfill")
    ec.rollback()
    assert constraints(ec_db, "tickets") == before
    with ec_db.connect() as conn:
        assert schema_shape(conn) == shape
    Session(ec_db.url, None).run("UPDATE tickets SET price = 5 WHERE id = 1")  # old X: > 0


BAD = [
    (drop(table="tickets", name="nope"), "has no constraint 'nope'"),
    (drop(table="tickets", name="price_positive", up={"code": "code"}), "does not cover"),
    (drop(table="people", name="people_pkey", down="id"), "up/down are for check"),
    (drop(table="sellers", name="sellers_pkey"), "depends on 'sellers_pkey'"),
    (drop(table="tickets", name="x" * 64), "longer than 63 bytes"),
    (drop(table="tickets", name="price_positive", down="price; DROP TABLE tickets"), "down"),
    (
        # A catalog-only drop on a column another operation duplicates: its copy would return.
        [
            {
                "alter_column": {
                    "table": "tickets",
                    "column": "price",
                    "type": "bigint",
                    "up": "price::bigint",
                    "down": "price::integer",
                }
            },
            drop(table="tickets", name="price_positive"),
        ],
        "changed or dropped by another operation",
    ),
    (
        [
            drop(table="tickets", name="price_positive"),
            drop(table="tickets", name="price_positive"),
        ],
        "has no constraint 'price_positive'",
    ),
    (
        [
            {"rename_constraint": {"table": "tickets", "from": "price_positive", "to": "pp"}},
            drop(table="tickets", name="pp"),
        ],
        "renamed earlier in this migration",
    ),
    (
        [
            create(table="tickets", name="c2", type="check", check="price > 1"),
            drop(table="tickets", name="c2"),
        ],
        "created earlier in this migration",
    ),
]


@pytest.mark.parametrize(("ops", "message"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_refused_before_anything_runs(ec_db: EcDatabase, ops: Any, message: str) -> None:
    seeded(ec_db)
    with ec_db.connect() as conn:
        before = schema_shape(conn)
    with pytest.raises(MigrationInvalid, match=None) as info:
        engine(ec_db.url).apply(migration("bad", *(ops if isinstance(ops, list) else [ops])))
    assert message in str(info.value), str(info.value)
    with ec_db.connect() as conn:
        assert schema_shape(conn) == before


def test_dropping_unique_keeps_the_columns_other_attributes(ec_db: EcDatabase) -> None:
    """pgroll's case: the twin keeps the column's default, check, NOT NULL, comment and other
    indexes; only the dropped constraint is left off."""
    seeded(ec_db)
    old = Session(ec_db.url, None)
    old.run(
        "CREATE TABLE reviews (id integer PRIMARY KEY, review text NOT NULL DEFAULT 'none'"
        " CONSTRAINT review_length CHECK (length(review) > 1)"
        " CONSTRAINT reviews_review_unique UNIQUE)",
        "CREATE INDEX reviews_review_idx ON reviews (review)",
        "COMMENT ON COLUMN reviews.review IS 'the review'",
        "INSERT INTO reviews VALUES (1, 'good'), (2, 'bad')",
    )
    ec = engine(ec_db.url)
    m = migration(
        "keep", drop(table="reviews", name="reviews_review_unique", down="review || '-' || id")
    )
    ec.apply(m, through="backfill")
    new = Session(ec_db.url, m.schema_for("public"))
    new.run("INSERT INTO reviews (id, review) VALUES (3, 'good')")  # a duplicate: no longer unique
    refused(new, "INSERT INTO reviews (id, review) VALUES (4, 'x')", "23514")
    ec.complete()
    assert constraints(ec_db, "reviews") == [
        ("review_length", "c", "CHECK ((length(review) > 1))", True),
        ("reviews_pkey", "p", "PRIMARY KEY (id)", True),
    ]
    assert old.rows(
        "SELECT attnotnull, pg_get_expr(d.adbin, d.adrelid), col_description(a.attrelid, a.attnum)"
        " FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid"
        " AND d.adnum = a.attnum WHERE a.attrelid = 'reviews'::regclass AND attname = 'review'"
    ) == [(True, "'none'::text", "the review")]
    assert old.rows("SELECT indexname FROM pg_indexes WHERE tablename = 'reviews' ORDER BY 1") == [
        ("reviews_pkey",),
        ("reviews_review_idx",),
    ]
    assert old.rows("SELECT review FROM reviews ORDER BY id") == [("good",), ("bad",), ("good",)]


def test_unique_a_foreign_key_depends_on_is_refused(ec_db: EcDatabase) -> None:
    seeded(ec_db)
    Session(ec_db.url, None).run(
        "UPDATE people SET email = NULL",
        "ALTER TABLE people ADD CONSTRAINT people_email_fk FOREIGN KEY (email)"
        " REFERENCES tickets (code)",
    )
    with ec_db.connect() as conn:
        before = schema_shape(conn)
    with pytest.raises(MigrationInvalid, match=r"people_email_fk.*depends on 'tickets_code_key'"):
        engine(ec_db.url).apply(migration("bad", drop(table="tickets", name="tickets_code_key")))
    with ec_db.connect() as conn:
        assert schema_shape(conn) == before


def test_unique_constraint_replacing_a_dropped_index_of_the_same_name(ec_db: EcDatabase) -> None:
    """drop_index X + create_constraint X (unique): the new index is built under another name
    and takes X at contract, so the old index is never adopted."""
    seeded(ec_db)
    Session(ec_db.url, None).run("CREATE INDEX people_email_idx ON people (email)")
    ec = engine(ec_db.url)
    m = migration(
        "index",
        {"drop_index": {"name": "people_email_idx"}},
        create(
            table="people",
            name="people_email_idx",
            type="unique",
            columns=["email"],
            up={"email": "email || '#' || id"},
        ),
    )
    ec.apply(m, through="contract")
    assert ("people_email_idx", "u", "UNIQUE (email)", True) in constraints(ec_db, "people")
    assert Session(ec_db.url, None).rows(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'people_email_idx'"
    ) == [("CREATE UNIQUE INDEX people_email_idx ON public.people USING btree (email)",)]
