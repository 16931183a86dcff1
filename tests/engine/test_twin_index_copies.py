"""A twinned column's indexes of every kind (hash, gin, gist, brin, partial, expression,
INCLUDE, operator class with parameters, collation, ordering) are rebuilt on the twin from
their catalog definition and take the original names at contract: the final catalog is the
one the table had, definitions exact."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from expandcontract.operations import MigrationInvalid
from expandcontract.operations.ddl import object_name
from expandcontract.operations.index_definition import Key, parse_index_definition
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import Session, engine, migration
from tests.engine.lifecycle import Lifecycle, indexes, run_lifecycle, sqlstate

SEED = [
    "CREATE TABLE items (id bigint PRIMARY KEY, name text, tags text[], amount integer)",
    "INSERT INTO items SELECT g, CASE WHEN g % 10 = 0 THEN NULL ELSE 'item ' || g END,"
    " ARRAY['t' || (g % 3)], g FROM generate_series(1, 300) g",
    "CREATE INDEX items_name_hash ON items USING hash (name) WITH (fillfactor = 70)",
    "CREATE INDEX items_lower_name ON items (lower(name) DESC NULLS LAST)",
    "CREATE INDEX items_name_pattern ON items (name text_pattern_ops) WHERE name IS NOT NULL",
    "CREATE INDEX items_id_incl ON items (id) INCLUDE (name)",
    "CREATE INDEX items_name_gist ON items USING gist"
    " (to_tsvector('simple', name) tsvector_ops (siglen = 64))",
    'CREATE INDEX items_name_c ON items (name COLLATE "C", amount)',
    "CREATE INDEX items_amount_where ON items (amount) WHERE name <> 'x'",
    "CREATE INDEX items_name_brin ON items USING brin (name) WITH (pages_per_range = 16)",
    "CREATE INDEX items_words_gin ON items USING gin (tags, (string_to_array(name, ' ')))",
    "CREATE UNIQUE INDEX items_name_uq ON items (name, id)",
    'CREATE INDEX "Items Odd ""Name""" ON items (name)',
    "CREATE INDEX items_amount_mod ON items ((amount % 10)) WHERE amount > 5",
    "CREATE INDEX items_amount_hash ON items USING hash (amount)",
]


@pytest.fixture
def items(ec_db: EcDatabase) -> EcDatabase:
    with ec_db.connect() as conn:
        for statement in SEED:
            conn.execute(statement)
    return ec_db


def _copies(original: dict[str, str], column: str) -> dict[str, str]:
    """What each copy of an index over ``column`` must look like while the migration is live."""
    twin = f"_ec_new_{column}"
    out = {}
    for name, definition in original.items():
        copy = object_name("_ec_new", name, suffix="idx")
        quoted = '"Items Odd ""Name"""' if name == 'Items Odd "Name"' else name
        shown = copy if copy == quoted or name == quoted else '"' + copy.replace('"', '""') + '"'
        text = definition.replace(f"INDEX {quoted} ON", f"INDEX {shown} ON")
        out[copy] = text.replace(f"({column}", f"({twin}").replace(f" {column})", f" {twin})")
    return out


def test_every_kind_of_index_on_a_column_made_not_null_is_copied(items: EcDatabase) -> None:
    with items.connect() as conn:
        original = indexes(conn, "items")
    on_name = {k: v for k, v in original.items() if "name" in v.split(" USING ")[1]}
    assert len(on_name) == 11

    def during(old: Session, new: Session) -> None:
        with psycopg.connect(items.url) as conn:
            found = indexes(conn, "items")
        for copy, definition in _copies(on_name, "name").items():
            assert found[copy] == definition
        # The copied unique index binds the new version's column too.
        assert sqlstate(new, "UPDATE items SET name = 'item 2' WHERE id = 3") is None
        assert sqlstate(new, "INSERT INTO items (id, name) VALUES (2, 'item 2')") == "23505"

    def final(conn: psycopg.Connection[Any]) -> None:
        assert indexes(conn, "items") == original
        assert conn.execute("SELECT count(*) FROM items WHERE name = 'anon'").fetchone() == (31,)

    run_lifecycle(
        items,
        Lifecycle(
            [
                {
                    "alter_column": {
                        "table": "items",
                        "column": "name",
                        "nullable": False,
                        "up": "coalesce(name, 'anon')",
                        "down": "name",
                    }
                }
            ],
            old_writes=["INSERT INTO items (id, name) VALUES (1001, NULL)"],
            new_writes=["INSERT INTO items (id, name) VALUES (1002, 'new')"],
            during=during,
            final=final,
        ),
    )


def test_indexes_survive_a_type_change_of_their_column(items: EcDatabase) -> None:
    with items.connect() as conn:
        original = indexes(conn, "items")

    def during(old: Session, new: Session) -> None:
        with psycopg.connect(items.url) as conn:
            found = indexes(conn, "items")
        copy = object_name("_ec_new", "items_amount_mod", suffix="idx")
        assert found[copy] == (
            f"CREATE INDEX {copy} ON public.items USING btree (((_ec_new_amount % (10)::bigint)))"
            " WHERE (_ec_new_amount > 5)"
        )

    def final(conn: psycopg.Connection[Any]) -> None:
        found = indexes(conn, "items")
        assert set(found) == set(original)
        for name in ("items_amount_hash", "items_name_c", "items_amount_where"):
            assert found[name] == original[name]
        assert found["items_amount_mod"] == (
            "CREATE INDEX items_amount_mod ON public.items USING btree"
            " (((amount % (10)::bigint))) WHERE (amount > 5)"
        )

    run_lifecycle(
        items,
        Lifecycle(
            [
                {
                    "alter_column": {
                        "table": "items",
                        "column": "amount",
                        "type": "bigint",
                        "up": "amount::bigint",
                        "down": "amount::integer",
                    }
                }
            ],
            old_writes=["INSERT INTO items (id, amount) VALUES (1001, 7)"],
            new_writes=["INSERT INTO items (id, amount) VALUES (1002, 8)"],
            during=during,
            final=final,
        ),
    )


def test_an_exclusion_constraint_on_the_column_is_still_refused(items: EcDatabase) -> None:
    with items.connect() as conn:
        conn.execute("ALTER TABLE items ADD CONSTRAINT items_amount_excl EXCLUDE (amount WITH =)")
    with pytest.raises(MigrationInvalid, match="exclusion constraint 'items_amount_excl'"):
        engine(items.url).apply(
            migration(
                "excl",
                {
                    "alter_column": {
                        "table": "items",
                        "column": "amount",
                        "type": "bigint",
                        "up": "amount::bigint",
                        "down": "amount::integer",
                    }
                },
            )
        )


def test_quoted_names_and_literals_with_brackets_and_commas_are_read_exactly(
    ec_db: EcDatabase,
) -> None:
    """The definition is read token by token: a quoted column name or a string constant
    holding ``,`` ``(`` ``)`` does not split or end a key."""
    odd = '"Odd, (Col)"'
    with ec_db.connect() as conn:
        conn.execute(f"CREATE TABLE odd (id int PRIMARY KEY, {odd} text, other text)")
        conn.execute("INSERT INTO odd SELECT g, 'v' || g, 'o' FROM generate_series(1, 50) g")
        conn.execute(f"CREATE INDEX odd_expr ON odd (({odd} || ',) USING x ('), other)")
        conn.execute(f"CREATE INDEX odd_incl ON odd (other) INCLUDE (id, {odd})")
        conn.execute(f"CREATE INDEX odd_where ON odd (id) WHERE {odd} <> 'a, (b)'")
        original = indexes(conn, "odd")

    def final(conn: psycopg.Connection[Any]) -> None:
        assert indexes(conn, "odd") == original

    run_lifecycle(
        ec_db,
        Lifecycle(
            [
                {
                    "alter_column": {
                        "table": "odd",
                        "column": "Odd, (Col)",
                        "nullable": False,
                        "up": f"coalesce({odd}, 'none')",
                        "down": odd,
                    }
                }
            ],
            old_writes=["INSERT INTO odd (id) VALUES (1001)"],
            final=final,
        ),
    )


def test_index_definitions_are_read_token_by_token() -> None:
    shape = parse_index_definition(
        'CREATE UNIQUE INDEX "a USING (b" ON ONLY public."t, USING" USING gist'
        """ (("x, (y" || ')'), lower("Q") DESC NULLS LAST, z text_pattern_ops,"""
        ' s.f(z) COLLATE "C") INCLUDE ("w)", v) WITH (fillfactor=\'70\') WHERE (x > 1)',
        where="t",
    )
    assert shape.method == "gist"
    assert shape.keys == (
        Key(None, """"x, (y" || ')'""", ""),
        Key(None, 'lower("Q")', " DESC NULLS LAST"),
        Key("z", None, " text_pattern_ops"),
        Key(None, "s.f(z)", ' COLLATE "C"'),
    )
    assert shape.include == ("w)", "v")


@pytest.mark.parametrize(
    "definition",
    [
        "CREATE INDEX i ON t USING btree (a",  # unbalanced
        "CREATE INDEX i ON t (a)",  # no access method
        "CREATE INDEX i ON t USING btree (s.t) ",  # a qualified name that is no call
    ],
)
def test_unreadable_index_definitions_are_refused(definition: str) -> None:
    with pytest.raises(MigrationInvalid, match="cannot read the definition"):
        parse_index_definition(definition, where="t")
