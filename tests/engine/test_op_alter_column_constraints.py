"""alter_column's unique, check, references and comment through the whole lifecycle: on the
column itself, or on its twin when the column moves (type/nullability change, or `up`)."""

from __future__ import annotations

from typing import Any

import pytest

from expandcontract.operations.base import MigrationInvalid
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.constraint_lifecycle import Case, constraints, run, seed
from tests.engine.harness import Session, engine, migration, schema_shape

EXTRA = [
    "CREATE TABLE authors (id integer PRIMARY KEY)",
    "INSERT INTO authors VALUES (1), (2)",
    "CREATE TABLE posts (id integer PRIMARY KEY, author_id integer, title text)",
    "INSERT INTO posts VALUES (1, 1, 'hello'), (2, 2, 'hi'), (3, 9, 'orphan'), (4, NULL, NULL)",
    "COMMENT ON COLUMN posts.title IS 'old comment'",
]
POSTS_PK = ("posts_pkey", "p", "PRIMARY KEY (id)", True)
TICKETS_PK = ("tickets_pkey", "p", "PRIMARY KEY (id)", True)
TITLE_COMMENT = (
    "SELECT col_description('public.posts'::regclass, attnum) FROM pg_attribute"
    " WHERE attrelid = 'public.posts'::regclass AND attname = 'title'"
)


def alter(table: str, column: str, **fields: Any) -> dict[str, Any]:
    return {"alter_column": {"table": table, "column": column, **fields}}


def seeded(db: EcDatabase) -> EcDatabase:
    seed(db)
    with db.connect() as conn:
        for statement in EXTRA:
            conn.execute(statement)
    return db


CASES = [
    Case(
        "unique_named_in_place",
        [alter("tickets", "code", unique={"name": "code_must_be_unique"})],
        refused=[
            ("old", "INSERT INTO tickets (id, code) VALUES (8, 'c1')", "23505"),
            ("new", "INSERT INTO tickets (id, code) VALUES (9, 'c2')", "23505"),
        ],
        final_constraints=[TICKETS_PK, ("code_must_be_unique", "u", "UNIQUE (code)", True)],
    ),
    Case(
        "unique_true_with_up",
        [alter("people", "email", unique=True, up="email || '#' || id")],
        table="people",
        old_writes=["INSERT INTO people (id, email) VALUES (6, 'a@x')"],  # old: unconstrained
        during=[
            (
                "new",
                "SELECT email FROM people WHERE id IN (1, 2, 6) ORDER BY id",
                [("a@x#1",), ("a@x#2",), ("a@x#6",)],
            )
        ],
        refused=[("new", "INSERT INTO people (id, email) VALUES (7, 'a@x#1')", "23505")],
        final_constraints=[
            ("people_email_key", "u", "UNIQUE (email)", True),
            ("people_pkey", "p", "PRIMARY KEY (id)", True),
        ],
    ),
    Case(
        "check_string_in_place",
        [alter("tickets", "price", check="price > 0")],
        refused=[("old", "UPDATE tickets SET price = 0 WHERE id = 1", "23514")],
        final_constraints=[TICKETS_PK, ("tickets_price_check", "c", "CHECK ((price > 0))", True)],
    ),
    Case(
        "check_named_with_type_change",
        [
            alter(
                "tickets",
                "price",
                type="bigint",
                up="price::bigint * 100",
                down="(price / 100)::integer",
                check={"name": "price_cap", "constraint": "price < 100000"},
            )
        ],
        old_writes=["INSERT INTO tickets (id, price) VALUES (6, 60)"],
        during=[
            ("new", "SELECT price FROM tickets WHERE id IN (1, 6) ORDER BY id", [(1000,), (6000,)])
        ],
        # Only the new version is bound: its column is the twin.
        refused=[("new", "UPDATE tickets SET price = 100000 WHERE id = 1", "23514")],
        final=[
            (
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
                " WHERE attrelid = 'tickets'::regclass AND attname = 'price'",
                [("bigint",)],
            ),
        ],
        final_constraints=[TICKETS_PK, ("price_cap", "c", "CHECK ((price < 100000))", True)],
    ),
    Case(
        "references_named_cascade_with_up",
        [
            alter(
                "posts",
                "author_id",
                references={
                    "name": "fk_posts_author",
                    "table": "authors",
                    "column": "id",
                    "on_delete": "cascade",
                },
                up="CASE WHEN author_id IN (1, 2) THEN author_id END",
            )
        ],
        table="posts",
        old_writes=["INSERT INTO posts VALUES (5, 7, 'old orphan')"],  # old: unconstrained
        during=[
            (
                "new",
                "SELECT author_id FROM posts WHERE id IN (3, 5) ORDER BY id",
                [(None,), (None,)],
            ),
            ("old", "SELECT author_id FROM posts WHERE id IN (3, 5) ORDER BY id", [(9,), (7,)]),
        ],
        refused=[("new", "INSERT INTO posts VALUES (6, 8, 'new orphan')", "23503")],
        final=[
            (
                "WITH d AS (DELETE FROM authors WHERE id = 2 RETURNING 1) SELECT count(*) FROM d",
                [(1,)],
            ),
            ("SELECT id FROM posts ORDER BY id", [(1,), (3,), (4,), (5,)]),
            (TITLE_COMMENT, [("old comment",)]),
        ],
        final_constraints=[
            (
                "fk_posts_author",
                "f",
                "FOREIGN KEY (author_id) REFERENCES authors(id) ON DELETE CASCADE",
                True,
            ),
            POSTS_PK,
        ],
    ),
    Case(
        "comment_only",
        [alter("posts", "title", comment="the title")],
        table="posts",
        during=[
            ("old", TITLE_COMMENT, [("old comment",)]),
            # The new version's view shows the previous comment until contract.
            ("new", "SELECT col_description('posts'::regclass, 3)", [("old comment",)]),
        ],
        final=[(TITLE_COMMENT, [("the title",)])],
        final_constraints=[POSTS_PK],
    ),
    Case(
        "comment_removed",
        [alter("posts", "title", comment=None)],
        table="posts",
        final=[(TITLE_COMMENT, [(None,)])],
        final_constraints=[POSTS_PK],
    ),
    Case(
        # pgroll's alter_column_multiple: type, NOT NULL, comment, unique and check at once.
        "everything_at_once",
        [
            alter(
                "posts",
                "title",
                type="varchar(40)",
                nullable=False,
                comment="short title",
                unique={"name": "posts_title_key"},
                check={"name": "title_length", "expression": "length(title) > 3"},
                up="CASE WHEN title IS NULL OR length(title) <= 3"
                " THEN 'untitled-' || id ELSE title END",
                down="title",
            )
        ],
        table="posts",
        old_writes=["INSERT INTO posts VALUES (5, 1, NULL)"],
        during=[
            (
                "new",
                "SELECT title FROM posts ORDER BY id",
                [("hello",), ("untitled-2",), ("orphan",), ("untitled-4",), ("untitled-5",)],
            )
        ],
        refused=[
            ("new", "INSERT INTO posts VALUES (6, 1, 'abc')", "23514"),
            ("new", "INSERT INTO posts VALUES (7, 1, 'hello')", "23505"),
        ],
        final=[
            (TITLE_COMMENT, [("short title",)]),
            (
                "SELECT format_type(atttypid, atttypmod), attnotnull FROM pg_attribute"
                " WHERE attrelid = 'posts'::regclass AND attname = 'title'",
                [("character varying(40)", True)],
            ),
        ],
        final_constraints=[
            POSTS_PK,
            ("posts_title_key", "u", "UNIQUE (title)", True),
            ("title_length", "c", "CHECK ((length((title)::text) > 3))", True),
        ],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_alter_column_constraint_lifecycle(ec_db: EcDatabase, case: Case) -> None:
    run(seeded(ec_db), case)


def test_names_users_give_are_kept_for_later_operations(ec_db: EcDatabase) -> None:
    """A named check added by alter_column is renamed and then dropped by its name."""
    seeded(ec_db)
    ec = engine(ec_db.url)
    ec.apply(
        migration(
            "one",
            alter("tickets", "price", check={"name": "name_length", "expression": "price > 0"}),
        ),
        through="contract",
    )
    ec.apply(
        migration(
            "two",
            {
                "rename_constraint": {
                    "table": "tickets",
                    "from": "name_length",
                    "to": "name_length_check",
                }
            },
        ),
        through="contract",
    )
    assert ("name_length_check", "c", "CHECK ((price > 0))", True) in constraints(ec_db, "tickets")
    ec.apply(
        migration("three", {"drop_constraint": {"table": "tickets", "name": "name_length_check"}}),
        through="contract",
    )
    assert constraints(ec_db, "tickets") == [TICKETS_PK]
    Session(ec_db.url, None).run("UPDATE tickets SET price = -1 WHERE id = 1")


BAD = [
    (alter("posts", "author_id", references="authors(id)"), "already violate foreign_key"),
    (alter("people", "email", unique=True), "give `up`"),
    (alter("tickets", "code", unique={"name": "u" * 64}), "longer than 63 bytes"),
    (alter("tickets", "code", check={"name": "c", "expression": "1); DROP TABLE x; --"}), "check"),
    (
        alter(
            "tickets",
            "code",
            references={"table": "authors", "column": "id", "on_delete": "explode"},
        ),
        "not a foreign key action",
    ),
    (alter("tickets", "code", comment=42), "comment is a string"),
    (alter("tickets", "code", unique={"name": "tickets_pkey"}), "already has a constraint"),
    (
        alter("tickets", "id", type="bigint", up="id::bigint", down="id::integer", comment="key"),
        "change its type in an alter_column of its own",
    ),
    (
        alter("tickets", "code", references={"table": "people", "column": "email"}),
        "has no primary key or unique constraint",
    ),
]


@pytest.mark.parametrize(("op", "message"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_refused_before_anything_runs(ec_db: EcDatabase, op: Any, message: str) -> None:
    seeded(ec_db)
    with ec_db.connect() as conn:
        before = schema_shape(conn)
    with pytest.raises(MigrationInvalid) as info:
        engine(ec_db.url).apply(migration("bad", op))
    assert message in str(info.value), str(info.value)
    with ec_db.connect() as conn:
        assert schema_shape(conn) == before


def test_references_string_gets_postgresqls_name(ec_db: EcDatabase) -> None:
    seeded(ec_db)
    ec = engine(ec_db.url)
    m = migration(
        "fk",
        alter(
            "posts",
            "author_id",
            references="authors(id)",
            up="CASE WHEN author_id IN (1, 2) THEN author_id END",
        ),
    )
    ec.apply(m, through="contract")
    assert constraints(ec_db, "posts") == [
        ("posts_author_id_fkey", "f", "FOREIGN KEY (author_id) REFERENCES authors(id)", True),
        POSTS_PK,
    ]
