"""Same-name replace: a migration that drops an object and creates a new one under its name.

The bug (issue 13): drop_index X + create_index X built nothing at expand (IF NOT EXISTS saw the
old X), dropped X at contract, and a rollback dropped the X that existed before. Now the new
index is built under a temporary name and takes the name at contract, after the old one is
gone; the old version keeps the old index until then, and a rollback leaves it untouched.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from expandcontract.operations import MigrationInvalid
from expandcontract.operations.ddl import object_name
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import Session, engine, migration, schema_shape
from tests.engine.lifecycle import Lifecycle, indexes, run_lifecycle, sqlstate

OLD_EMAIL = "CREATE INDEX users_email_idx ON public.users USING btree (email)"
NEW_EMAIL = "CREATE INDEX users_email_idx ON public.users USING hash (email)"
OLD_AMOUNT = "CREATE INDEX users_amount_idx ON public.users USING btree (amount)"
NEW_AMOUNT = (
    "CREATE UNIQUE INDEX users_amount_idx ON public.users USING btree (amount) WHERE (amount > 0)"
)
TEMP_EMAIL = object_name("_ec_repl", "users_email_idx", suffix="idx")
TEMP_AMOUNT = object_name("_ec_repl", "users_amount_idx", suffix="idx")

REPLACE = [
    {"drop_index": {"name": "users_email_idx"}},
    {
        "create_index": {
            "name": "users_email_idx",
            "table": "users",
            "columns": ["email"],
            "method": "hash",
        }
    },
    {"drop_index": {"name": "users_amount_idx"}},
    {
        "create_index": {
            "name": "users_amount_idx",
            "table": "users",
            "columns": ["amount"],
            "unique": True,
            "where": "amount > 0",
        }
    },
]


def test_drop_index_and_create_index_of_the_same_name(seeded: EcDatabase) -> None:
    def during(old: Session, new: Session) -> None:
        with psycopg.connect(seeded.url) as conn:
            found = indexes(conn, "users")
        # The old version keeps the indexes it had; the new ones wait under temporary names.
        assert found["users_email_idx"] == OLD_EMAIL
        assert found["users_amount_idx"] == OLD_AMOUNT
        assert found[TEMP_EMAIL] == NEW_EMAIL.replace("users_email_idx", TEMP_EMAIL)
        assert found[TEMP_AMOUNT] == NEW_AMOUNT.replace("users_amount_idx", TEMP_AMOUNT)
        # The new unique index already binds writes of both versions.
        assert sqlstate(old, "UPDATE users SET amount = 20 WHERE id = 1") == "23505"
        assert sqlstate(new, "UPDATE users SET amount = 20 WHERE id = 1") == "23505"

    def final(conn: psycopg.Connection[Any]) -> None:
        found = indexes(conn, "users")
        assert found["users_email_idx"] == NEW_EMAIL
        assert found["users_amount_idx"] == NEW_AMOUNT
        assert TEMP_EMAIL not in found and TEMP_AMOUNT not in found

    run_lifecycle(seeded, Lifecycle(REPLACE, during=during, final=final))


def test_rollback_of_a_replace_leaves_the_old_index(seeded: EcDatabase) -> None:
    """What the issue reported: after expand + rollback the original index must be there."""
    ec = engine(seeded.url)
    ec.apply(migration("replace", *REPLACE[:2]), through="expand")
    ec.rollback()
    with seeded.connect() as conn:
        found = indexes(conn, "users")
    assert found["users_email_idx"] == OLD_EMAIL
    assert TEMP_EMAIL not in found


def test_creating_an_index_under_a_name_still_in_use_is_refused(seeded: EcDatabase) -> None:
    with pytest.raises(MigrationInvalid, match="the name is taken"):
        engine(seeded.url).apply(migration("taken", REPLACE[1]))


def test_dropping_and_recreating_a_table_of_the_same_name_is_refused_with_a_way_forward(
    seeded: EcDatabase,
) -> None:
    """A table replaced in one migration would need the old version's table until contract and
    the new version's under the same name: refused with the two-migration way, nothing run."""
    with seeded.connect() as conn:
        before = schema_shape(conn)
    with pytest.raises(MigrationInvalid, match="dropped earlier in this migration") as caught:
        engine(seeded.url).apply(
            migration(
                "replace",
                {"drop_table": {"name": "old_stuff"}},
                {"create_table": {"name": "old_stuff", "columns": [{"name": "id", "type": "int"}]}},
            )
        )
    assert "next migration" in str(caught.value.hint)
    with seeded.connect() as conn:
        assert schema_shape(conn) == before
        assert conn.execute("SELECT count(*) FROM old_stuff").fetchone() == (2,)


def test_replacing_an_index_whose_name_has_63_bytes(seeded: EcDatabase) -> None:
    name = "r" * 57 + "_ä_ä"
    assert len(name.encode()) == 63
    with seeded.connect() as conn:
        conn.execute(f'CREATE INDEX "{name}" ON users (nickname)')
    temp = object_name("_ec_repl", name, suffix="idx")
    assert len(temp.encode()) <= 63

    def during(old: Session, new: Session) -> None:
        with psycopg.connect(seeded.url) as conn:
            found = indexes(conn, "users")
        assert found[name].endswith("USING btree (nickname)")
        assert found[temp].endswith("USING btree (nickname) WHERE (nickname IS NOT NULL)")

    def final(conn: psycopg.Connection[Any]) -> None:
        found = indexes(conn, "users")
        assert found[name] == (
            f'CREATE INDEX "{name}" ON public.users USING btree (nickname)'
            " WHERE (nickname IS NOT NULL)"
        )
        assert temp not in found

    run_lifecycle(
        seeded,
        Lifecycle(
            [
                {"drop_index": {"name": name}},
                {
                    "create_index": {
                        "name": name,
                        "table": "users",
                        "columns": ["nickname"],
                        "where": "nickname IS NOT NULL",
                    }
                },
            ],
            during=during,
            final=final,
        ),
    )
