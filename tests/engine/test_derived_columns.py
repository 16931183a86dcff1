"""Cross-version consistency of derived columns: a column one version derives from the other's
columns is recomputed whenever a column its expression reads changes, in both directions
(add_column `up`, drop_column `down`, alter_column `up`/`down`), and never otherwise."""

from __future__ import annotations

import pytest

from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import Session, engine, migration

SPLIT = [
    {
        "add_column": {
            "table": "people",
            "column": {"name": "first_name", "type": "text"},
            "up": "split_part(display_name, ' ', 1)",
        }
    },
    {
        "add_column": {
            "table": "people",
            "column": {"name": "last_name", "type": "text"},
            "up": "split_part(display_name, ' ', 2)",
        }
    },
    {
        "add_column": {
            "table": "people",
            "column": {"name": "email_domain", "type": "text"},
            "up": "split_part(email, '@', 2)",
        }
    },
    {
        "drop_column": {
            "table": "people",
            "column": "display_name",
            "down": "first_name || ' ' || last_name",
        }
    },
]


@pytest.fixture
def people(ec_db: EcDatabase) -> tuple[Session, Session]:
    with ec_db.connect() as conn:
        conn.execute(
            "CREATE TABLE people (id int PRIMARY KEY, display_name text, email text, note text)"
        )
        conn.execute("INSERT INTO people VALUES (1, 'Ada Lovelace', 'ada@math.org', 'x')")
    engine(ec_db.url).apply(migration("split", *SPLIT))
    return Session(ec_db.url, None), Session(ec_db.url, "public_split")


def test_a_new_version_update_reaches_the_old_versions_derived_column(
    people: tuple[Session, Session],
) -> None:
    old, new = people
    new.run("UPDATE people SET last_name = 'Byron' WHERE id = 1")
    assert old.rows("SELECT display_name FROM people") == [("Ada Byron",)]


def test_an_old_version_update_reaches_the_new_versions_derived_column(
    people: tuple[Session, Session],
) -> None:
    old, new = people
    old.run("UPDATE people SET email = 'ada@byron.uk' WHERE id = 1")
    assert new.rows("SELECT email_domain FROM people") == [("byron.uk",)]
    old.run("UPDATE people SET display_name = 'Augusta King' WHERE id = 1")
    assert new.rows("SELECT first_name, last_name FROM people") == [("Augusta", "King")]


def test_unrelated_writes_do_not_recompute(people: tuple[Session, Session]) -> None:
    """What one version stored in a derived column stays until a column it reads changes."""
    old, new = people
    new.run("UPDATE people SET email_domain = 'kept.org' WHERE id = 1")
    old.run("UPDATE people SET note = 'y' WHERE id = 1")
    assert new.rows("SELECT email_domain FROM people") == [("kept.org",)]
    old.run("UPDATE people SET display_name = 'Ada L' WHERE id = 1")
    new.run("UPDATE people SET email = 'a@b.c' WHERE id = 1")  # down does not read email
    assert old.rows("SELECT display_name FROM people") == [("Ada L",)]


def test_inserts_by_each_version_are_derived(people: tuple[Session, Session]) -> None:
    old, new = people
    old.run("INSERT INTO people VALUES (2, 'Grace Hopper', 'grace@navy.mil', NULL)")
    new.run(
        "INSERT INTO people (id, first_name, last_name, email) VALUES (3, 'Alan', 'Turing', 'a@t')"
    )
    assert new.rows("SELECT first_name, last_name, email_domain FROM people WHERE id = 2") == [
        ("Grace", "Hopper", "navy.mil")
    ]
    assert old.rows("SELECT display_name FROM people WHERE id = 3") == [("Alan Turing",)]


def test_a_new_version_update_of_a_row_never_computed_keeps_the_rest(ec_db: EcDatabase) -> None:
    """Before the backfill reached the row: the new app sets last_name only; first_name comes
    from `up` first, then `down` rebuilds display_name from the completed row."""
    with ec_db.connect() as conn:
        conn.execute(
            "CREATE TABLE people (id int PRIMARY KEY, display_name text, email text, note text)"
        )
        conn.execute("INSERT INTO people VALUES (1, 'John Smith', 'j@s.org', NULL)")
    engine(ec_db.url).apply(migration("split", *SPLIT), through="expand")
    old, new = Session(ec_db.url, None), Session(ec_db.url, "public_split")
    new.run("UPDATE people SET last_name = 'Jones' WHERE id = 1")
    assert old.rows("SELECT display_name FROM people") == [("John Jones",)]
    assert new.rows("SELECT first_name, last_name, email_domain FROM people") == [
        ("John", "Jones", "s.org")
    ]
