"""Version selection: the setting, the search_path (first schema, not a string match), and the
SQLAlchemy helper, including "current" following ec switch without a redeploy."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from expandcontract.pytest_plugin import EcDatabase
from expandcontract.sqlalchemy import bind_version, version_of
from tests.engine.harness import Session, engine, migration

RENAME = {"rename_column": {"table": "users", "from": "email", "to": "email_address"}}
NOT_NULL = {
    "alter_column": {
        "table": "users",
        "column": "nickname",
        "nullable": False,
        "up": "coalesce(nickname, 'anon')",
    }
}


def test_sessions_declare_their_version(seeded: EcDatabase) -> None:
    m = migration("v2", RENAME, NOT_NULL)
    engine(seeded.url).apply(m)
    vs = m.schema_for("public")
    by_path = Session(seeded.url, vs)
    by_setting = Session(seeded.url, vs, use_setting=True)
    old = Session(seeded.url, None)
    # search_path "public_v2, public" (first existing schema) and the setting both mean "new".
    by_path.run("INSERT INTO users (id, email_address, nickname) VALUES (501, 'p@x', 'p')")
    by_setting.run("INSERT INTO users (id, email_address, nickname) VALUES (502, 's@x', 's')")
    old.run("INSERT INTO users (id, email) VALUES (503, 'o@x')")
    assert old.rows("SELECT id, email, nickname FROM users WHERE id > 500 ORDER BY id") == [
        (501, "p@x", "p"),
        (502, "s@x", "s"),
        (503, "o@x", None),
    ]
    assert by_setting.rows(
        "SELECT id, email_address, nickname FROM users WHERE id > 500 ORDER BY id"
    ) == [(501, "p@x", "p"), (502, "s@x", "s"), (503, "o@x", "anon")]


def test_a_version_schema_later_in_the_path_is_not_the_new_version(seeded: EcDatabase) -> None:
    m = migration("v2", NOT_NULL)
    engine(seeded.url).apply(m)
    with Session(seeded.url, None).connect() as conn:
        conn.execute(f"SET search_path = public, {m.schema_for('public')}")
        conn.execute("INSERT INTO users (id, email) VALUES (601, 'x')")  # old version: NULL ok
        assert conn.execute("SELECT nickname FROM users WHERE id = 601").fetchone() == (None,)


def test_sqlalchemy_fixed_version_and_current(seeded: EcDatabase) -> None:
    m = migration("v2", RENAME)
    ec = engine(seeded.url)
    ec.apply(m)
    vs = m.schema_for("public")
    base = sa.create_engine(seeded.sqlalchemy_url)
    meta_new = sa.MetaData()
    users_new = sa.Table(
        "users",
        meta_new,
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("email_address", sa.Text),
    )
    new = bind_version(base, vs)
    with new.begin() as conn:
        assert version_of(conn) == vs
        conn.execute(users_new.insert().values(id=701, email_address="sa@x"))
        assert (
            conn.execute(sa.select(users_new.c.email_address).where(users_new.c.id == 701)).scalar()
            == "sa@x"
        )

    current = bind_version(base, "current")
    with current.begin() as conn:
        assert version_of(conn) == "public"  # not switched yet: the old version
    ec.switch()
    with current.begin() as conn:
        assert version_of(conn) == vs  # follows the switch, no new engine needed
        assert (
            conn.execute(sa.select(users_new.c.email_address).where(users_new.c.id == 701)).scalar()
            == "sa@x"
        )
    ec.switch(back=True)
    with current.begin() as conn:
        assert version_of(conn) == "public"
    # Transaction-local: the pooled connection carries nothing into a plain transaction.
    with base.begin() as conn:
        assert version_of(conn) in (None, "")
    base.dispose()


def test_switch_can_set_the_database_search_path(seeded: EcDatabase) -> None:
    m = migration("v2", RENAME)
    ec = engine(seeded.url)
    ec.apply(m)
    ec.switch(search_path="database")
    with Session(seeded.url, None).connect() as conn:
        assert conn.execute("SELECT (current_schemas(false))[1]").fetchone() == (
            m.schema_for("public"),
        )
    ec.switch(back=True)  # remembered: the database's default goes back too
    with Session(seeded.url, None).connect() as conn:
        assert conn.execute("SELECT (current_schemas(false))[1]").fetchone() == ("public",)
    ec.switch()
    ec.rollback()  # a rollback switches back, search_path included
    with Session(seeded.url, None).connect() as conn:
        assert conn.execute("SELECT (current_schemas(false))[1]").fetchone() == ("public",)


def test_app_roles_get_the_same_privileges_on_the_new_version(seeded: EcDatabase) -> None:
    role = f"app_{seeded.name[-8:]}"
    with seeded.connect() as conn:
        conn.execute(f'CREATE ROLE "{role}"')
        conn.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        conn.execute(f'GRANT SELECT, INSERT, UPDATE ON users TO "{role}"')
    try:
        m = migration("v2", RENAME)
        engine(seeded.url).apply(m)
        with Session(seeded.url, m.schema_for("public")).connect() as conn:
            conn.execute(f'SET ROLE "{role}"')
            conn.execute("INSERT INTO users (id, email_address) VALUES (901, 'role@x')")
            assert conn.execute("SELECT email_address FROM users WHERE id = 901").fetchone() == (
                "role@x",
            )
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM users WHERE id = 901")  # never granted on the base
    finally:
        with seeded.connect() as conn:
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@h:5432/db?options=-c%20search_path%3Dfoo&sslmode=disable",
        "host=h dbname=db options='-c search_path=foo'",
    ],
)
def test_ec_sessions_declare_the_old_version_and_keep_user_options(url: str) -> None:
    from psycopg.conninfo import conninfo_to_dict

    from expandcontract.engine.selector import as_version

    params = conninfo_to_dict(as_version(url, "public"))
    assert params["options"] == (
        "-c search_path=foo -c expandcontract.version=public -c expandcontract.ec=on"
    )
    assert params["dbname"] == "db"
