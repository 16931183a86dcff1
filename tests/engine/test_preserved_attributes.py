"""What users configured on a column survives an alter_column twin and its swap at contract:
column privileges (on the table and on the new version's views), comment, statistics target,
per-column options, storage, compression and collation; on PostgreSQL 18 the NOT NULL
constraint's name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from expandcontract.operations.base import MigrationInvalid
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import Session, engine, migration


def _attributes(conn: psycopg.Connection[Any], table: str, column: str) -> dict[str, Any]:
    """Everything but the type that a user configures on one column."""
    compression = "a.attcompression" if conn.info.server_version >= 140000 else "''"
    row = conn.execute(
        f"""
        SELECT col_description(a.attrelid, a.attnum), NULLIF(a.attstattarget, -1),
               a.attstorage, a.attoptions,
               CASE WHEN a.attcollation = 0 THEN NULL ELSE a.attcollation::regcollation::text END,
               {compression}::text, a.attnotnull,
               ARRAY(SELECT (x.grantee::regrole::text, x.privilege_type, x.is_grantable)::text
                     FROM aclexplode(a.attacl) x ORDER BY 1)
        FROM pg_attribute a
        WHERE a.attrelid = %s::regclass AND a.attname = %s
        """,
        (table, column),
    ).fetchone()
    assert row is not None, f"no column {table}.{column}"
    keys = ("comment", "statistics", "storage", "options", "collation", "compression")
    return dict(zip((*keys, "not_null", "privileges"), row, strict=True))


@pytest.fixture
def role(ec_db: EcDatabase) -> Iterator[str]:
    """A role that only has column-level privileges on scores (id, score, label)."""
    name = f"r_{ec_db.name[-8:]}"
    with ec_db.connect() as conn:
        conn.execute(
            "CREATE TABLE scores (id bigint PRIMARY KEY, score integer NOT NULL,"
            " label text, secret text)"
        )
        conn.execute(
            "INSERT INTO scores SELECT g, g * 10, 'l' || g, 's' FROM generate_series(1, 50) g"
        )
        conn.execute(f'CREATE ROLE "{name}"')
        conn.execute(f'GRANT USAGE ON SCHEMA public TO "{name}"')
        conn.execute(f'GRANT SELECT (id, score, label), INSERT (id, score) ON scores TO "{name}"')
        conn.execute(f'GRANT UPDATE (score) ON scores TO "{name}" WITH GRANT OPTION')
    try:
        yield name
    finally:
        with ec_db.connect() as conn:
            conn.execute(f'DROP OWNED BY "{name}"')
            conn.execute(f'DROP ROLE "{name}"')


SCORE_TYPE = {
    "alter_column": {
        "table": "scores",
        "column": "score",
        "type": "bigint",
        "up": "score::bigint",
        "down": "score::integer",
    }
}
RENAME_LABEL = {"rename_column": {"table": "scores", "from": "label", "to": "tag"}}


def _as(session: Session, role: str) -> psycopg.Connection[Any]:
    conn = session.connect()
    conn.execute(f'SET ROLE "{role}"')
    return conn


def test_column_grants_reach_both_versions_during_the_window(ec_db: EcDatabase, role: str) -> None:
    url = ec_db.url
    m = migration("grants", SCORE_TYPE, RENAME_LABEL)
    engine(url).apply(m)
    old, new = Session(url, None), Session(url, m.schema_for("public"))
    # The old version through the table, the new one through its views (label is tag there).
    with _as(old, role) as conn:
        conn.execute("INSERT INTO scores (id, score) VALUES (101, 7)")
        conn.execute("UPDATE scores SET score = 8 WHERE id = 1")
        row = conn.execute("SELECT id, score, label FROM scores WHERE id = 1").fetchone()
        assert row == (1, 8, "l1")
    with _as(new, role) as conn:
        rows = conn.execute("SELECT id, score, tag FROM scores WHERE id IN (1, 101) ORDER BY id")
        assert rows.fetchall() == [(1, 8, "l1"), (101, 7, None)]
        conn.execute("INSERT INTO scores (id, score) VALUES (102, 9)")
        conn.execute("UPDATE scores SET score = 11 WHERE id = 2")
    with _as(old, role) as conn:
        rows = conn.execute("SELECT score FROM scores WHERE id IN (2, 102) ORDER BY id")
        assert rows.fetchall() == [(11,), (9,)]
    # No more than the role had: secret was never readable, tag (label) never writable.
    for statement in ("SELECT secret FROM scores", "UPDATE scores SET tag = 'x' WHERE id = 1",
                      "DELETE FROM scores WHERE id = 1"):  # fmt: skip
        with _as(new, role) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def test_column_grants_survive_complete(ec_db: EcDatabase, role: str) -> None:
    with ec_db.connect() as conn:
        score_before = _attributes(conn, "scores", "score")
        label_before = _attributes(conn, "scores", "label")
    ec = engine(ec_db.url)
    ec.apply(migration("grants", SCORE_TYPE, RENAME_LABEL))
    ec.switch()
    ec.complete()
    with _as(Session(ec_db.url, None), role) as conn:
        conn.execute("INSERT INTO scores (id, score) VALUES (103, 12)")
        conn.execute("UPDATE scores SET score = 13 WHERE id = 3")
        rows = conn.execute("SELECT id, score, tag FROM scores WHERE id IN (3, 103) ORDER BY id")
        assert rows.fetchall() == [(3, 13, "l3"), (103, 12, None)]
    with ec_db.connect() as conn:
        assert _attributes(conn, "scores", "score") == score_before
        assert _attributes(conn, "scores", "tag") == label_before


def test_comment_statistics_storage_collation_survive_a_type_change(ec_db: EcDatabase) -> None:
    with ec_db.connect() as conn:
        conn.execute(
            'CREATE TABLE docs (id bigint PRIMARY KEY, body text COLLATE "C", code text, n integer)'
        )
        conn.execute(
            "INSERT INTO docs SELECT g, 'b' || g, g::text, g FROM generate_series(1, 50) g"
        )
        for column in ("body", "code", "n"):
            conn.execute(f"COMMENT ON COLUMN docs.{column} IS 'about {column}'")
            conn.execute(f"ALTER TABLE docs ALTER COLUMN {column} SET STATISTICS 321")
            conn.execute(f"ALTER TABLE docs ALTER COLUMN {column} SET (n_distinct = -0.5)")
        conn.execute(
            "ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL,"
            " ALTER COLUMN body SET COMPRESSION pglz,"
            " ALTER COLUMN code SET STORAGE MAIN"
        )
        before = {c: _attributes(conn, "docs", c) for c in ("body", "code", "n")}
    m = migration(
        "attrs",
        {"alter_column": {"table": "docs", "column": "body", "type": "varchar(300)",
                          "up": "body::varchar(300)", "down": "body::text"}},
        # text -> integer: integers have no collation and only PLAIN storage, so those go.
        {"alter_column": {"table": "docs", "column": "code", "type": "integer",
                          "up": "code::integer", "down": "code::text"}},
        {"alter_column": {"table": "docs", "column": "n", "type": "bigint",
                          "up": "n::bigint", "down": "n::integer"}},
    )  # fmt: skip
    ec = engine(ec_db.url)
    ec.apply(m)
    with ec_db.connect() as conn:
        twins = {c: _attributes(conn, "docs", f"_ec_new_{c}") for c in ("body", "code", "n")}
        view = m.schema_for("public") + ".docs"
        view_comments = {c: _attributes(conn, view, c)["comment"] for c in ("body", "code", "n")}
    ec.switch()
    ec.complete()
    with ec_db.connect() as conn:
        after = {c: _attributes(conn, "docs", c) for c in ("body", "code", "n")}
    code_as_integer = {**before["code"], "storage": "p", "collation": None}
    assert after == {"body": before["body"], "code": code_as_integer, "n": before["n"]}
    assert twins == after
    assert view_comments == {c: f"about {c}" for c in ("body", "code", "n")}


def _not_null_names(conn: psycopg.Connection[Any], table: str) -> dict[str, str]:
    """Column -> name of its NOT NULL constraint (catalogued since PostgreSQL 18)."""
    return {
        column: name
        for name, column in conn.execute(
            "SELECT c.conname, a.attname FROM pg_constraint c JOIN pg_attribute a"
            " ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
            " WHERE c.conrelid = %s::regclass AND c.contype = 'n'",
            (table,),
        )
    }


def test_not_null_constraint_takes_the_name_postgresql_gives_it(ec_db: EcDatabase) -> None:
    with ec_db.connect() as conn:
        conn.execute(
            "CREATE TABLE items (id bigint PRIMARY KEY, qty integer CONSTRAINT qty_required"
            " NOT NULL, price integer NOT NULL, note text)"
        )
        conn.execute("INSERT INTO items SELECT g, g, g, 'n' FROM generate_series(1, 20) g")
        before = _not_null_names(conn, "items")
    m = migration(
        "names",
        {"alter_column": {"table": "items", "column": "qty", "type": "bigint",
                          "up": "qty::bigint", "down": "qty::integer"}},
        {"alter_column": {"table": "items", "column": "price", "type": "bigint",
                          "up": "price::bigint", "down": "price::integer"}},
        {"alter_column": {"table": "items", "column": "note", "nullable": False,
                          "up": "coalesce(note, '')"}},
    )  # fmt: skip
    ec = engine(ec_db.url)
    ec.apply(m)
    ec.switch()
    ec.complete()
    with ec_db.connect() as conn:
        after = _not_null_names(conn, "items")
        modern = conn.info.server_version >= 180000
    if modern:
        # An existing constraint keeps its name (user-chosen or not); a new one gets the name
        # SET NOT NULL would give the column.
        assert before == {"id": "items_id_not_null", "qty": "qty_required",
                          "price": "items_price_not_null"}  # fmt: skip
        assert after == {**before, "note": "items_note_not_null"}
    else:
        assert before == after == {}


def test_row_security_and_column_only_readers_are_refused_before_anything_runs(
    ec_db: EcDatabase, role: str
) -> None:
    """With row-level security the view must check as the querying role, and PostgreSQL then
    wants SELECT on every column it shows: the role could not read the new version."""
    with ec_db.connect() as conn:
        conn.execute("ALTER TABLE scores ENABLE ROW LEVEL SECURITY")
        conn.execute("CREATE POLICY first_ten ON scores USING (id <= 10)")
    m = migration("rls", SCORE_TYPE)
    with pytest.raises(MigrationInvalid, match=f"row-level security.*{role}"):
        engine(ec_db.url).apply(m)
    with ec_db.connect() as conn:
        assert conn.execute(
            "SELECT to_regnamespace(%s) IS NULL", (m.schema_for("public"),)
        ).fetchone() == (True,)
        conn.execute(f'GRANT SELECT ON scores TO "{role}"')
    # With table-level SELECT the view checks as the querying role: row security holds.
    engine(ec_db.url).apply(m)
    with _as(Session(ec_db.url, m.schema_for("public")), role) as conn:
        assert conn.execute("SELECT count(*) FROM scores").fetchone() == (10,)


def _objects(conn: psycopg.Connection[Any], table: str) -> dict[str, Any]:
    """Indexes, constraints and statistics objects of a table, as PostgreSQL prints them."""
    indexes = conn.execute(
        "SELECT pg_get_indexdef(i.indexrelid), obj_description(i.indexrelid, 'pg_class'),"
        " i.indisclustered, i.indisreplident FROM pg_index i WHERE i.indrelid = %s::regclass"
        " ORDER BY 1",
        (table,),
    ).fetchall()
    constraints = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid), obj_description(oid, 'pg_constraint')"
        " FROM pg_constraint WHERE conrelid = %s::regclass AND contype <> 'n' ORDER BY 1",
        (table,),
    ).fetchall()
    statistics = conn.execute(
        "SELECT pg_get_statisticsobjdef(oid), NULLIF(stxstattarget, -1)::integer,"
        " obj_description(oid, 'pg_statistic_ext')"
        " FROM pg_statistic_ext WHERE stxrelid = %s::regclass ORDER BY 1",
        (table,),
    ).fetchall()
    identity = conn.execute(
        "SELECT relreplident FROM pg_class WHERE oid = %s::regclass", (table,)
    ).fetchone()
    return {"indexes": indexes, "constraints": constraints, "statistics": statistics,
            "replica_identity": identity}  # fmt: skip


def test_indexes_constraints_and_statistics_on_the_column_come_back_as_they_were(
    ec_db: EcDatabase,
) -> None:
    with ec_db.connect() as conn:
        for statement in (
            "CREATE TABLE parts (id bigint PRIMARY KEY, code integer, qty integer NOT NULL"
            " CONSTRAINT qty_positive CHECK (qty > 0), serial_no integer NOT NULL)",
            "INSERT INTO parts SELECT g, g, g, g FROM generate_series(1, 50) g",
            # Over two of the changed columns: copied once, onto both twins.
            "ALTER TABLE parts ADD CONSTRAINT code_upto_qty CHECK (code <= qty)",
            "CREATE INDEX parts_code_qty_idx ON parts (qty, code)",
            "CREATE UNIQUE INDEX parts_code_idx ON parts (code) NULLS NOT DISTINCT"
            " WITH (fillfactor = 70)",
            "COMMENT ON INDEX parts_code_idx IS 'one code, one NULL'",
            "ALTER TABLE parts CLUSTER ON parts_code_idx",
            "ALTER TABLE parts ADD CONSTRAINT parts_qty_key UNIQUE (qty)"
            " DEFERRABLE INITIALLY DEFERRED",
            "COMMENT ON CONSTRAINT parts_qty_key ON parts IS 'checked at commit'",
            "COMMENT ON CONSTRAINT qty_positive ON parts IS 'no empty lots'",
            "CREATE UNIQUE INDEX parts_serial_idx ON parts (serial_no)",
            "ALTER TABLE parts REPLICA IDENTITY USING INDEX parts_serial_idx",
            "CREATE STATISTICS parts_code_qty (ndistinct, dependencies) ON code, qty FROM parts",
            "ALTER STATISTICS parts_code_qty SET STATISTICS 200",
            "COMMENT ON STATISTICS parts_code_qty IS 'correlated'",
            "CREATE STATISTICS parts_code_expr ON (code + serial_no), id FROM parts",
        ):
            conn.execute(statement)
        before = _objects(conn, "parts")
    m = migration(
        "objects",
        *(
            {"alter_column": {"table": "parts", "column": c, "type": "bigint",
                              "up": f"{c}::bigint", "down": f"{c}::integer"}}
            for c in ("code", "qty", "serial_no")
        ),
    )  # fmt: skip
    ec = engine(ec_db.url)
    ec.apply(m)
    ec.rollback()  # the copies go with the twins
    with ec_db.connect() as conn:
        assert _objects(conn, "parts") == before
    ec.apply(m)
    ec.switch()
    ec.complete()
    with ec_db.connect() as conn:
        after = _objects(conn, "parts")
        # Still enforced as before: one NULL code at most, qty unique only at commit.
        conn.execute("INSERT INTO parts VALUES (101, NULL, 101, 101)")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO parts VALUES (102, NULL, 102, 102)")
        with conn.transaction():
            conn.execute("UPDATE parts SET qty = qty + 1")  # collides row by row
    assert after == before


@pytest.mark.parametrize(
    ("operations", "message"),
    [
        (
            [{"alter_column": {"table": "pairs", "column": "a", "nullable": True,
                               "up": "a", "down": "coalesce(a, 0)"}}],
            "replica identity of 'pairs', so 'a' must stay NOT NULL",
        ),
        (
            [{"alter_column": {"table": "pairs", "column": c, "type": "bigint",
                               "up": f"{c}::bigint", "down": f"{c}::integer"}} for c in "ab"],
            r"replica identity of 'pairs' and covers several columns .*\(a, b\)",
        ),
    ],
    ids=["nullable", "two-columns"],
)  # fmt: skip
def test_a_replica_identity_ec_cannot_keep_is_refused_before_anything_runs(
    ec_db: EcDatabase, operations: list[dict[str, Any]], message: str
) -> None:
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE pairs (id int PRIMARY KEY, a int NOT NULL, b int NOT NULL)")
        conn.execute("CREATE UNIQUE INDEX pairs_ab ON pairs (a, b)")
        conn.execute("ALTER TABLE pairs REPLICA IDENTITY USING INDEX pairs_ab")
    m = migration("ri", *operations)
    with pytest.raises(MigrationInvalid, match=message):
        engine(ec_db.url).apply(m)
    with ec_db.connect() as conn:
        assert conn.execute(
            "SELECT to_regnamespace(%s) IS NULL", (m.schema_for("public"),)
        ).fetchone() == (True,)
