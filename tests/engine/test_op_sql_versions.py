"""Raw `sql` and the version schemas: tables a `sql` operation declares in `tables:` get the new
version's view, built from the catalog right after the sql ran (expand, or contract with
`on: contract`); the old version's schema is never touched; rollback leaves the schema as it
was; undeclared sql stays opaque and `ec plan` says so."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from expandcontract.errors import ECError, StepFailed
from expandcontract.operations.base import MigrationInvalid
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import Session, concurrently, engine, migration, schema_shape, schemas

NOTES = {
    "sql": {
        "up": "CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL DEFAULT 'empty');"
        " COMMENT ON COLUMN notes.body IS 'what was noted'",
        "down": "DROP TABLE notes",
        "tables": ["notes"],
    }
}
# Completed first, so the old version of the migration under test has a version schema.
NICKNAME = {"rename_column": {"table": "users", "from": "nickname", "to": "handle"}}


def _views(conn: psycopg.Connection[Any], schema: str) -> dict[str, str]:
    """View name -> definition: the whole of what a version schema shows."""
    return dict(
        conn.execute(
            "SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind = 'v' ORDER BY 1",
            (schema,),
        ).fetchall()
    )


def _view_columns(conn: psycopg.Connection[Any], schema: str, view: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (schema, view),
        )
    ]


def _resolves_to(conn: psycopg.Connection[Any], name: str) -> str:
    """The schema in which the session's search_path finds ``name``."""
    row = conn.execute(
        "SELECT relnamespace::regnamespace::text FROM pg_class WHERE oid = to_regclass(%s)",
        (name,),
    ).fetchone()
    assert row is not None
    return str(row[0])


def _state(conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    return (
        schema_shape(conn),
        schemas(conn) - {"expandcontract"},
        _views(conn, "public_before"),
    )


def test_a_table_the_sql_creates_is_in_the_new_version_while_live_and_after_complete(
    seeded: EcDatabase,
) -> None:
    url = seeded.url
    ec = engine(url)
    ec.apply(migration("before", NICKNAME), through="contract")
    with seeded.connect() as conn:
        before = _state(conn)
    old_views = before[2]
    assert "notes" not in old_views

    m = migration("notes", NOTES)
    ec.apply(m, through="expand")
    old, new = Session(url, "public_before"), Session(url, "public_notes")
    with seeded.connect() as conn:
        assert _view_columns(conn, "public_notes", "notes") == ["id", "body"]
        # The old version's schema is exactly what it was: no view appears in it.
        assert _views(conn, "public_before") == old_views
        assert conn.execute(
            "SELECT col_description('public_notes.notes'::regclass, 2)"
        ).fetchone() == ("what was noted",)
        assert conn.execute(
            "SELECT reloptions FROM pg_class WHERE oid = 'public_notes.notes'::regclass"
        ).fetchone() == (["security_invoker=true"],)
    with old.connect() as conn:
        # Like a create_table table: the old version finds it in the base schema, through the
        # base schema on its search_path.
        assert _resolves_to(conn, "notes") == "public"
    concurrently(
        lambda: new.run(
            "INSERT INTO notes (id) VALUES (1)", "INSERT INTO notes VALUES (2, 'by new')"
        ),
        lambda: old.run("UPDATE users SET handle = 'h' WHERE id = 1"),
    )
    # The new version writes through its view (the base default applies); the base table has them.
    assert new.rows("SELECT id, body FROM public_notes.notes ORDER BY id") == [
        (1, "empty"),
        (2, "by new"),
    ]
    assert Session(url, None).rows("SELECT count(*) FROM public.notes") == [(2,)]

    ec.rollback()
    with seeded.connect() as conn:
        assert _state(conn) == before

    # Again under the same name, through the whole lifecycle.
    ec.apply(migration("notes", NOTES), through="backfill")
    assert ec.switch()["current_schema"] == "public_notes"
    assert ec.switch(back=True)["current_schema"] == "public_before"
    ec.switch()
    new.run("INSERT INTO notes VALUES (3, 'after switch')")
    ec.complete()
    with seeded.connect() as conn:
        # The current version's schema keeps its view of the table after complete.
        assert "notes" in _views(conn, "public_notes")
    assert new.rows("SELECT id, body FROM notes ORDER BY id") == [(3, "after switch")]
    with new.connect() as conn:
        assert _resolves_to(conn, "notes") == "public_notes"

    # pgroll's example 06: the next migration changes the sql-made table like any other.
    follow = migration(
        "describe",
        {
            "add_column": {
                "table": "notes",
                "column": {"name": "description", "type": "text"},
                "up": "upper(body)",
            }
        },
    )
    ec.apply(follow)
    newest = Session(url, "public_describe")
    concurrently(
        lambda: new.run("INSERT INTO notes VALUES (4, 'old app')"),
        lambda: newest.run("INSERT INTO notes (id, body, description) VALUES (5, 'b', 'd')"),
    )
    assert newest.rows("SELECT id, description FROM notes WHERE id >= 4 ORDER BY id") == [
        (4, "OLD APP"),
        (5, "d"),
    ]
    assert new.rows("SELECT id, body FROM notes WHERE id >= 4 ORDER BY id") == [
        (4, "old app"),
        (5, "b"),
    ]


ADDS_SCORE = {
    "sql": {
        "up": "ALTER TABLE users ADD COLUMN score integer NOT NULL DEFAULT 0;"
        " COMMENT ON COLUMN users.score IS 'points'",
        "down": "ALTER TABLE users DROP COLUMN score",
        "tables": ["users"],
    }
}
WITH_EC_OPS = [
    {"rename_column": {"table": "users", "from": "email", "to": "email_address"}},
    {
        "add_column": {
            "table": "users",
            "column": {"name": "status", "type": "text"},
            "up": "CASE WHEN legacy THEN 'legacy' ELSE 'active' END",
        }
    },
    ADDS_SCORE,
    {"drop_column": {"table": "users", "column": "nickname", "down": "'n/a'"}},
]


def test_columns_the_sql_adds_are_in_the_new_version_next_to_ec_changes(
    seeded: EcDatabase,
) -> None:
    url = seeded.url
    ec = engine(url)
    with seeded.connect() as conn:
        before = (schema_shape(conn), schemas(conn))
    m = migration("scores", *WITH_EC_OPS)
    ec.apply(m, through="expand")
    old, new = Session(url, None), Session(url, "public_scores")
    with seeded.connect() as conn:
        # ec's mapping first, then what the sql added; nickname (dropped) and _ec_ stay hidden.
        assert _view_columns(conn, "public_scores", "users") == [
            "id",
            "email_address",
            "amount",
            "legacy",
            "status",
            "score",
        ]
        assert conn.execute(
            "SELECT col_description('public_scores.users'::regclass, 6)"
        ).fetchone() == ("points",)
    concurrently(
        lambda: old.run("INSERT INTO users (id, email, legacy) VALUES (1001, 'o@x', true)"),
        lambda: new.run(
            "INSERT INTO users (id, email_address, score) VALUES (1002, 'n@x', 7)",
            "UPDATE users SET score = 3 WHERE id = 1",
        ),
    )
    ec.apply(m, through="backfill")
    assert new.rows(
        "SELECT id, email_address, status, score FROM users WHERE id IN (1, 1001, 1002) ORDER BY id"
    ) == [(1, "u1@x.org", "active", 3), (1001, "o@x", "legacy", 0), (1002, "n@x", None, 7)]
    assert old.rows("SELECT nickname FROM users WHERE id = 1002") == [("n/a",)]

    ec.rollback()
    with seeded.connect() as conn:
        assert (schema_shape(conn), schemas(conn) - {"expandcontract"}) == (
            before[0],
            before[1] - {"expandcontract"},
        )

    ec.apply(migration("scores", *WITH_EC_OPS), through="switch")
    new.run("UPDATE users SET score = 9 WHERE id = 2")
    ec.complete()
    with seeded.connect() as conn:
        assert _view_columns(conn, "public_scores", "users") == [
            "id",
            "email_address",
            "amount",
            "legacy",
            "status",
            "score",
        ]
        assert [c[0] for c in schema_shape(conn)["users"]["columns"]] == [
            "id",
            "email_address",
            "amount",
            "legacy",
            "status",
            "score",
        ]
    # Rollback ran the sql's down (score dropped): the re-applied column starts at its default.
    assert new.rows("SELECT score FROM users WHERE id IN (1, 2) ORDER BY id") == [(0,), (9,)]


def test_an_on_contract_sql_refreshes_the_current_versions_views(seeded: EcDatabase) -> None:
    url = seeded.url
    ec = engine(url)
    m = migration(
        "archive",
        {"rename_column": {"table": "customers", "from": "name", "to": "full_name"}},
        {
            "sql": {
                "up": "ALTER TABLE customers ADD COLUMN archived boolean NOT NULL DEFAULT false;"
                " CREATE TABLE audit (id int GENERATED BY DEFAULT AS IDENTITY, what text)",
                "on": "contract",
                "tables": ["customers", "audit"],
            }
        },
    )
    ec.apply(m, through="switch")
    new = Session(url, "public_archive")
    with seeded.connect() as conn:
        assert _view_columns(conn, "public_archive", "customers") == ["id", "full_name"]
        assert "audit" not in _views(conn, "public_archive")
    ec.complete()
    with seeded.connect() as conn:
        assert _view_columns(conn, "public_archive", "customers") == [
            "id",
            "full_name",
            "archived",
        ]
        options = conn.execute(
            "SELECT reloptions FROM pg_class WHERE oid = 'public_archive.customers'::regclass"
        ).fetchone()
        assert options == (["security_invoker=true"],)
    new.run(
        "UPDATE customers SET archived = true WHERE id = 1",
        "INSERT INTO audit (what) VALUES ('archived 1')",
    )
    assert new.rows("SELECT full_name, archived FROM customers WHERE id = 1") == [("c1", True)]
    assert new.rows("SELECT id, what FROM audit") == [(1, "archived 1")]
    with new.connect() as conn:
        assert _resolves_to(conn, "audit") == "public_archive"


def test_privileges_on_a_table_the_sql_creates_reach_its_view(seeded: EcDatabase) -> None:
    role = f"r_{seeded.name[-8:]}"
    with seeded.connect() as conn:
        conn.execute(f'CREATE ROLE "{role}"')
        conn.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
    try:
        m = migration(
            "shared",
            {
                "sql": {
                    "up": "CREATE TABLE shared (id int PRIMARY KEY, v text);"
                    f' GRANT SELECT, INSERT ON shared TO "{role}"',
                    "down": "DROP TABLE shared",
                    "tables": ["shared"],
                }
            },
        )
        engine(seeded.url).apply(m, through="expand")
        new = Session(seeded.url, "public_shared")
        with new.connect() as conn:
            conn.execute(f'SET ROLE "{role}"')
            conn.execute("INSERT INTO shared VALUES (1, 'as role')")
            assert conn.execute("SELECT v FROM public_shared.shared").fetchall() == [("as role",)]
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("UPDATE shared SET v = 'no'")
        engine(seeded.url).rollback()
    finally:
        with seeded.connect() as conn:
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


def test_undeclared_sql_stays_opaque_and_plan_says_what_to_declare(seeded: EcDatabase) -> None:
    ec = engine(seeded.url)
    undeclared = migration(
        "opaque", {"sql": {"up": "ALTER TABLE users ADD COLUMN score int", "down": "SELECT 1"}}
    )
    warnings = ec.plan(undeclared).warnings
    assert any(
        "operation 1 (sql) creates or alters users without declaring it" in w
        and "tables: [users]" in w
        for w in warnings
    ), warnings
    unparsed = migration("unread", {"sql": {"up": "SELECT 1", "down": "SELECT 1"}})
    assert any("operation 1 (sql) is opaque to ec" in w for w in ec.plan(unparsed).warnings)
    declared = migration("seen", {**ADDS_SCORE})
    seen = ec.plan(declared).warnings
    assert any("views of users are built from the catalog" in w for w in seen), seen
    assert not any("opaque" in w or "without declaring" in w for w in seen), seen

    ec.apply(undeclared, through="expand")
    with seeded.connect() as conn:
        assert "score" not in _view_columns(conn, "public_opaque", "users")
        assert "score" in [c[0] for c in schema_shape(conn)["users"]["columns"]]


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ("users", "tables must be a list"),
        (["public.users"], "unqualified table name"),
        (["_ec_x"], "reserved for ec"),
        (["t" * 64], "longer than 63 bytes"),
        (["users", "users"], "lists users twice"),
        (["users_email_idx"], "belongs to another object"),
    ],
)
def test_bad_declarations_are_refused_before_anything_runs(
    seeded: EcDatabase, tables: Any, message: str
) -> None:
    with seeded.connect() as conn:
        before = schemas(conn)
    with pytest.raises(MigrationInvalid, match=message):
        engine(seeded.url).apply(
            migration("bad", {"sql": {"up": "SELECT 1", "tables": tables}}), through="expand"
        )
    with seeded.connect() as conn:
        assert schemas(conn) == before


def test_ec_operations_of_the_same_migration_do_not_see_the_sql_table(
    seeded: EcDatabase,
) -> None:
    later = {
        "add_column": {"table": "notes", "column": {"name": "extra", "type": "text"}},
    }
    with pytest.raises(MigrationInvalid, match="table 'notes' does not exist"):
        engine(seeded.url).plan(migration("together", NOTES, later))


@pytest.mark.parametrize(
    ("first", "message"),
    [
        ({"rename_table": {"from": "customers", "to": "clients"}}, "renamed in this migration"),
        ({"drop_table": {"name": "customers"}}, "dropped earlier in this migration"),
    ],
)
def test_a_table_other_operations_rename_or_drop_cannot_be_declared(
    seeded: EcDatabase, first: dict[str, Any], message: str
) -> None:
    m = migration("clash", first, {"sql": {"up": "SELECT 1", "tables": ["customers"]}})
    with pytest.raises(MigrationInvalid, match=message):
        engine(seeded.url).plan(m)


def _expand_fails_then_rolls_back(db: EcDatabase, spec: dict[str, Any], message: str) -> None:
    with db.connect() as conn:
        before = schema_shape(conn)
    ec = engine(db.url)
    with pytest.raises(ECError, match=message):
        ec.apply(migration("ghostly", {"sql": spec}), through="expand")
    ec.rollback()
    with db.connect() as conn:
        assert schema_shape(conn) == before
        assert "public_ghostly" not in schemas(conn)


def test_a_declared_table_the_sql_does_not_create_stops_expand(seeded: EcDatabase) -> None:
    _expand_fails_then_rolls_back(
        seeded,
        {"up": "SELECT 1", "tables": ["ghost"]},
        "declares table 'ghost' in tables:, but there is no such table",
    )


def test_renaming_a_column_the_new_version_maps_stops_expand(seeded: EcDatabase) -> None:
    """The new version's code names the column; rename_column is the operation for that."""
    _expand_fails_then_rolls_back(
        seeded,
        {
            "up": "ALTER TABLE customers RENAME COLUMN name TO label",
            "down": "ALTER TABLE customers RENAME COLUMN label TO name",
            "tables": ["customers"],
        },
        "column\\(s\\) it maps are gone: name",
    )


def test_a_run_stopped_between_the_sql_and_the_views_resumes(seeded: EcDatabase) -> None:
    """The sql committed, the views step had not run: `ec apply` again builds the view."""
    ec = engine(seeded.url)
    calls: list[str] = []

    def stop_at_views(phase: str, step: Any) -> None:
        calls.append(step.key)
        if step.key == "views" and calls.count("views") == 1:
            raise StepFailed("stopped before the views (test)")

    ec.before_step = stop_at_views
    m = migration("notes", NOTES)
    with pytest.raises(ECError, match="stopped before the views"):
        ec.apply(m, through="expand")
    with seeded.connect() as conn:
        assert conn.execute("SELECT to_regclass('public.notes') IS NOT NULL").fetchone() == (True,)
        assert "notes" not in _views(conn, "public_notes")
    ec.apply(m, through="expand")  # running the CREATE TABLE again would fail
    with seeded.connect() as conn:
        assert _view_columns(conn, "public_notes", "notes") == ["id", "body"]


def test_names_that_need_quoting_reach_the_view(seeded: EcDatabase) -> None:
    """The view is built by a DO block from catalog names: quotes, capitals, spaces, `$`."""
    table = "Odd 'Notes' $x$"
    m = migration(
        "quoted",
        {
            "sql": {
                "up": 'CREATE TABLE "Odd \'Notes\' $x$" (id int PRIMARY KEY, "Body ""B"" $$" text)',
                "down": "DROP TABLE \"Odd 'Notes' $x$\"",
                "tables": [table],
            }
        },
    )
    ec = engine(seeded.url)
    ec.apply(m, through="expand")
    new = Session(seeded.url, "public_quoted")
    new.run("INSERT INTO \"Odd 'Notes' $x$\" VALUES (1, 'b')")
    with seeded.connect() as conn:
        assert _view_columns(conn, "public_quoted", table) == ["id", 'Body "B" $$']
    assert new.rows('SELECT "Body ""B"" $$" FROM "Odd \'Notes\' $x$"') == [("b",)]
    ec.rollback()


def test_a_type_change_by_sql_under_a_version_schema_view_is_refused_by_postgresql(
    seeded: EcDatabase,
) -> None:
    """Documented limit: once a version schema shows the column (here the old version's, from
    the previous migration), PostgreSQL refuses to change its type; alter_column does it."""
    ec = engine(seeded.url)
    ec.apply(migration("before", NICKNAME), through="contract")
    with seeded.connect() as conn:
        before = schema_shape(conn)
    m = migration(
        "retype",
        {
            "sql": {
                "up": "ALTER TABLE users ALTER COLUMN amount TYPE bigint",
                "down": "ALTER TABLE users ALTER COLUMN amount TYPE integer",
                "tables": ["users"],
            }
        },
    )
    with pytest.raises(ECError, match="cannot alter type of a column used by a view or rule"):
        ec.apply(m, through="expand")
    ec.rollback()
    with seeded.connect() as conn:
        assert schema_shape(conn) == before
