"""Regressions from review: unrelated writes never clobber the other version's value, the
contract window keeps old writes, ec's own sessions are always the old version, and the
lifecycle edges (re-applied migrations, partial rollbacks, dependents) hold."""

from __future__ import annotations

from typing import Any

import pytest

from expandcontract.config import Settings
from expandcontract.engine.api import Engine
from expandcontract.engine.backfill import table_backfill
from expandcontract.errors import ECError
from expandcontract.operations import MigrationInvalid
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import Session, engine, migration, schema_shape

WIDEN = {
    "alter_column": {
        "table": "codes",
        "column": "code",
        "type": "varchar(20)",
        "up": "code::varchar(20)",
        "down": "left(code, 5)",
    }
}


@pytest.fixture
def codes(ec_db: EcDatabase) -> EcDatabase:
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE codes (id int PRIMARY KEY, code varchar(5), note text)")
        conn.execute("INSERT INTO codes SELECT g, 'c' || g, 'n' FROM generate_series(1, 50) g")
    return ec_db


def test_an_unrelated_old_write_keeps_the_new_versions_value(codes: EcDatabase) -> None:
    m = migration("widen", WIDEN)
    engine(codes.url).apply(m)
    old, new = Session(codes.url, None), Session(codes.url, m.schema_for("public"))
    new.run("UPDATE codes SET code = 'abcdefghij' WHERE id = 1")
    assert old.rows("SELECT code FROM codes WHERE id = 1") == [("abcde",)]
    old.run("UPDATE codes SET note = 'touched by the old app' WHERE id = 1")
    assert new.rows("SELECT code, note FROM codes WHERE id = 1") == [
        ("abcdefghij", "touched by the old app")
    ]
    # ...and an unrelated new write keeps what the old version stored.
    old.run("UPDATE codes SET code = 'zz' WHERE id = 2")
    new.run("UPDATE codes SET note = 'touched by the new app' WHERE id = 2")
    assert old.rows("SELECT code FROM codes WHERE id = 2") == [("zz",)]


def test_old_writes_during_contract_reach_the_new_column(codes: EcDatabase) -> None:
    m = migration("widen", WIDEN)
    old = Session(codes.url, None)

    def write_before_swap(phase: str, step: Any) -> None:
        if phase == "contract" and step.key.startswith("columns:"):
            old.run("UPDATE codes SET code = 'late' WHERE id = 3")

    s = Settings()
    ec = Engine(
        codes.url,
        s,
        backfill=table_backfill(codes.url, s),
        sink=None,
        before_step=write_before_swap,
    )
    ec.apply(m, through="switch")
    ec.complete()
    assert old.rows("SELECT code FROM codes WHERE id = 3") == [("late",)]


def test_the_backfill_is_the_old_version_even_after_a_search_path_switch(
    codes: EcDatabase,
) -> None:
    m = migration(
        "lossy",
        {"alter_column": {"table": "codes", "column": "id", "default": None}},
        {
            "alter_column": {
                "table": "codes",
                "column": "note",
                "nullable": False,
                "up": "coalesce(note, 'x') || '!'",
                "down": "rtrim(note, '!')",
            }
        },
    )
    ec = engine(codes.url)
    ec.apply(m, through="expand")
    ec.switch(search_path="database")  # new sessions now start in the new version's schema
    ec.apply(m, through="backfill")
    old = Session(codes.url, None)
    with old.connect() as conn:  # the old app pins its own path
        conn.execute("SET search_path = public")
        assert conn.execute("SELECT DISTINCT note FROM codes").fetchall() == [("n",)]
    ec.switch(back=True, search_path="database")


def test_expressions_see_this_rows_columns_even_in_subqueries(ec_db: EcDatabase) -> None:
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE names (id int PRIMARY KEY, email text)")
        conn.execute("INSERT INTO names VALUES (1, 'one@x'), (2, 'two@x')")
        conn.execute("CREATE TABLE users (id int PRIMARY KEY, label text)")
        conn.execute("INSERT INTO users VALUES (1, 'a')")
    m = migration(
        "lookup",
        {
            "add_column": {
                "table": "users",
                "column": {"name": "email", "type": "text"},
                "up": "(SELECT x.email FROM names x WHERE x.id = id)",
            }
        },
    )
    engine(ec_db.url).apply(m)
    old, new = Session(ec_db.url, None), Session(ec_db.url, m.schema_for("public"))
    old.run("INSERT INTO users (id, label) VALUES (2, 'b')")  # must not break the old app
    assert new.rows("SELECT id, email FROM users ORDER BY id") == [(1, "one@x"), (2, "two@x")]


def test_columns_named_like_trigger_variables_are_refused(ec_db: EcDatabase) -> None:
    with ec_db.connect() as conn:
        conn.execute('CREATE TABLE t (id int PRIMARY KEY, "new" int)')
    with pytest.raises(MigrationInvalid, match="cannot use as variable names"):
        engine(ec_db.url).apply(
            migration(
                "m",
                {
                    "alter_column": {
                        "table": "t",
                        "column": "new",
                        "type": "bigint",
                        "up": '"new"::bigint',
                        "down": '"new"::int',
                    }
                },
            )
        )


def test_current_version_after_a_reapplied_migration(seeded: EcDatabase) -> None:
    ec = engine(seeded.url)
    a = migration("a", {"rename_column": {"table": "users", "from": "email", "to": "mail"}})
    b = migration("b", {"drop_table": {"name": "old_stuff"}})
    ec.apply(a)
    ec.rollback()
    ec.apply(b, through="contract")
    ec.apply(a, through="contract")
    assert ec.status()["current_schema"] == a.schema_for("public")


def test_rollback_skips_operations_that_never_ran(seeded: EcDatabase) -> None:
    ec = engine(seeded.url)
    m = migration(
        "partial",
        {"sql": {"up": "SELECT 1/0"}},
        {"sql": {"up": "CREATE TABLE extra (id int)", "down": "DROP TABLE extra"}},
    )
    with pytest.raises(ECError, match="division by zero"):
        ec.apply(m)
    ec.rollback()
    assert ec.status()["migration"] is None


def test_dependent_views_and_foreign_keys_are_refused_before_anything_runs(
    seeded: EcDatabase,
) -> None:
    with seeded.connect() as conn:
        conn.execute("CREATE VIEW report AS SELECT id, legacy FROM users")
        conn.execute("CREATE TABLE refs (id int PRIMARY KEY, stuff int REFERENCES old_stuff)")
        before = schema_shape(conn)
    ec = engine(seeded.url)
    with pytest.raises(MigrationInvalid, match=r"view public\.report depend"):
        ec.apply(migration("d1", {"drop_column": {"table": "users", "column": "legacy"}}))
    with pytest.raises(MigrationInvalid, match="foreign key refs_stuff_fkey"):
        ec.apply(migration("d2", {"drop_table": {"name": "old_stuff"}}))
    with seeded.connect() as conn:
        assert schema_shape(conn) == before


def test_generated_columns_cannot_be_twinned(ec_db: EcDatabase) -> None:
    with ec_db.connect() as conn:
        conn.execute(
            "CREATE TABLE t (id int PRIMARY KEY, seq int GENERATED ALWAYS AS (id * 2) STORED)"
        )
    with pytest.raises(MigrationInvalid, match="generated column"):
        engine(ec_db.url).apply(
            migration(
                "m",
                {
                    "alter_column": {
                        "table": "t",
                        "column": "seq",
                        "type": "bigint",
                        "up": "seq::bigint",
                        "down": "seq::int",
                    }
                },
            )
        )


def test_switch_back_is_refused_once_contract_started(codes: EcDatabase) -> None:
    def fail_in_contract(phase: str, step: Any) -> None:
        if phase == "contract" and step.key.startswith("columns:"):
            raise ECError("simulated failure in contract")

    s = Settings()
    ec = Engine(
        codes.url, s, backfill=table_backfill(codes.url, s), sink=None, before_step=fail_in_contract
    )
    ec.apply(migration("widen", WIDEN), through="switch")
    with pytest.raises(ECError, match="simulated"):
        ec.complete()
    with pytest.raises(ECError, match="has started contracting"):
        ec.switch(back=True)


def test_complete_works_when_nothing_needed_a_backfill(seeded: EcDatabase) -> None:
    ec = engine(seeded.url)
    ec.apply(
        migration("r", {"rename_column": {"table": "users", "from": "email", "to": "e"}}),
        through="expand",
    )
    ec.complete()
    assert ec.status()["current_schema"] == "public_r"


def test_constraints_on_a_changed_column_survive_contract(ec_db: EcDatabase) -> None:
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE customers (id int PRIMARY KEY)")
        conn.execute("INSERT INTO customers SELECT generate_series(1, 10)")
        conn.execute(
            "CREATE TABLE orders (id int PRIMARY KEY, customer_id int"
            " CONSTRAINT orders_customer_fk REFERENCES customers ON DELETE CASCADE"
            " CONSTRAINT orders_customer_positive CHECK (customer_id > 0), note text)"
        )
        conn.execute("CREATE INDEX orders_customer_idx ON orders (customer_id)")
        conn.execute("INSERT INTO orders SELECT g, 1 + g % 10, 'x' FROM generate_series(1, 100) g")
    m = migration(
        "widen",
        {
            "alter_column": {
                "table": "orders",
                "column": "customer_id",
                "type": "bigint",
                "up": "customer_id::bigint",
                "down": "customer_id::int",
            }
        },
    )
    ec = engine(ec_db.url)
    ec.apply(m, through="switch")
    new = Session(ec_db.url, m.schema_for("public"))
    with pytest.raises(Exception, match="violates check constraint"):
        new.run("INSERT INTO orders (id, customer_id) VALUES (500, -1)")
    with pytest.raises(Exception, match="violates foreign key constraint"):
        new.run("INSERT INTO orders (id, customer_id) VALUES (501, 999)")
    ec.complete()
    with ec_db.connect() as conn:
        shape = schema_shape(conn)["orders"]
    assert (
        "orders_customer_fk",
        "FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE",
        True,
    ) in shape["constraints"]
    assert ("orders_customer_positive", "CHECK ((customer_id > 0))", True) in shape["constraints"]
    assert [i[0] for i in shape["indexes"]] == ["orders_customer_idx", "orders_pkey"]


def test_exclusion_constraints_on_a_twinned_column_are_refused(ec_db: EcDatabase) -> None:
    """An exclusion constraint cannot be added to an existing table without holding ACCESS
    EXCLUSIVE for the whole index build, so ec refuses to copy one onto a twin."""
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, a int)")
        conn.execute("ALTER TABLE t ADD CONSTRAINT t_excl EXCLUDE USING btree (a WITH =)")
    with pytest.raises(MigrationInvalid, match=r"exclusion constraint 't_excl'"):
        engine(ec_db.url).apply(
            migration(
                "m",
                {
                    "alter_column": {
                        "table": "t",
                        "column": "a",
                        "type": "bigint",
                        "up": "a::bigint",
                        "down": "a::int",
                    }
                },
            )
        )


def test_a_whole_row_save_of_a_row_not_yet_backfilled_keeps_the_old_versions_data(
    ec_db: EcDatabase,
) -> None:
    """Before the backfill reaches a row the new version reads NULL in its twin. An ORM saving
    the whole row writes that NULL back: a column counts as written only when its value
    changed, so the twin is computed through up and the old version keeps its value; a value
    the new app really changes sticks."""
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE acc (id int PRIMARY KEY, amount int, note text)")
        conn.execute("INSERT INTO acc SELECT g, g * 10, 'n' FROM generate_series(1, 20) g")
    m = migration(
        "widen",
        {
            "alter_column": {
                "table": "acc",
                "column": "amount",
                "type": "bigint",
                "up": "amount::bigint",
                "down": "amount::int",
            }
        },
    )
    ec = engine(ec_db.url)
    ec.apply(m, through="expand")  # rows are still pending: no backfill yet
    old, new = Session(ec_db.url, None), Session(ec_db.url, m.schema_for("public"))
    assert new.rows("SELECT amount FROM acc WHERE id = 1") == [(None,)]
    new.run("UPDATE acc SET amount = NULL, note = 'saved' WHERE id = 1")  # what it read
    new.run("UPDATE acc SET amount = 99 WHERE id = 2")  # a real change
    merge = ("MERGE INTO acc a USING (VALUES ({id})) s(id) ON a.id = s.id"
             " WHEN MATCHED AND a.id < 0 THEN UPDATE SET amount = 0"
             " WHEN MATCHED THEN UPDATE SET note = 'merged'")  # fmt: skip
    old.run(merge.format(id=4))  # on the base table: PostgreSQL 15 and later
    merged_by_new = ec_db.server.server_version_num >= 170000  # MERGE into a view: PG 17+
    if merged_by_new:
        new.run(merge.format(id=3))
    expected = [(1, 10), (2, 99), (3, 30), (4, 40)]
    new_reads = expected if merged_by_new else [(1, 10), (2, 99), (3, None), (4, 40)]
    assert new.rows("SELECT id, amount FROM acc WHERE id <= 4 ORDER BY id") == new_reads
    assert old.rows("SELECT id, amount FROM acc WHERE id <= 4 ORDER BY id") == expected
    ec.apply(m, through="backfill")
    ec.complete()
    assert old.rows("SELECT id, amount FROM acc WHERE id <= 4 ORDER BY id") == expected


def test_a_default_that_does_not_fit_the_new_type_is_refused_before_anything_runs(
    ec_db: EcDatabase,
) -> None:
    """text '0' -> integer: the kept default would fail in the view after expand started."""
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, code text DEFAULT 'none')")
        before = schema_shape(conn)
    change = {"table": "t", "column": "code", "type": "integer", "up": "0", "down": "code::text"}
    with pytest.raises(
        MigrationInvalid, match="keeping the default \"'none'::text\" for integer would fail"
    ) as refused:
        engine(ec_db.url).apply(migration("m", {"alter_column": change}))
    assert "default:" in (refused.value.hint or "")
    with ec_db.connect() as conn:
        assert schema_shape(conn) == before
    # With a default for the new type it runs.
    engine(ec_db.url).apply(migration("m2", {"alter_column": {**change, "default": "0"}}))
