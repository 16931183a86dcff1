"""Every operation through the whole lifecycle, with both app versions live at once."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import Session, concurrently, engine, migration, schema_shape, schemas

Check = tuple[str, str, list[tuple[Any, ...]]]  # (version "old"|"new", query, expected rows)


@dataclasses.dataclass
class Case:
    id: str
    operations: list[dict[str, Any]]
    old_writes: list[str] = dataclasses.field(default_factory=list)
    new_writes: list[str] = dataclasses.field(default_factory=list)
    during: list[Check] = dataclasses.field(default_factory=list)  # after both wrote
    final_writes: list[str] = dataclasses.field(default_factory=list)  # new version, switched
    final: list[tuple[str, list[tuple[Any, ...]]]] = dataclasses.field(default_factory=list)
    final_columns: dict[str, list[str]] = dataclasses.field(default_factory=dict)


CASES = [
    Case(
        "add_column",
        [
            {
                "add_column": {
                    "table": "users",
                    "column": {
                        "name": "status",
                        "type": "text",
                        "nullable": False,
                        "default": "'active'",
                    },
                    "up": "CASE WHEN legacy THEN 'legacy' ELSE 'active' END",
                }
            }
        ],
        old_writes=["INSERT INTO users (id, email, legacy) VALUES (1001, 'old@x', true)"],
        new_writes=["INSERT INTO users (id, email, status) VALUES (1002, 'new@x', 'banned')"],
        during=[
            ("new", "SELECT status FROM users WHERE id = 1001", [("legacy",)]),
            ("new", "SELECT status FROM users WHERE id = 1002", [("banned",)]),
            ("old", "SELECT email FROM users WHERE id = 1002", [("new@x",)]),
        ],
        final_writes=["INSERT INTO users (id, email, status) VALUES (2002, 'n2', 'banned')"],
        final=[
            (
                "SELECT status, count(*) FROM users GROUP BY 1 ORDER BY 1",
                [("active", 151), ("banned", 1), ("legacy", 151)],
            ),
        ],
        final_columns={"users": ["id", "email", "nickname", "amount", "legacy", "status"]},
    ),
    Case(
        "add_column_volatile_default",
        [
            {
                "add_column": {
                    "table": "users",
                    "column": {
                        "name": "token",
                        "type": "uuid",
                        "nullable": False,
                        "default": "gen_random_uuid()",
                    },
                }
            }
        ],
        old_writes=["INSERT INTO users (id, email) VALUES (1001, 'old@x')"],
        new_writes=["INSERT INTO users (id, email) VALUES (1002, 'new@x')"],
        during=[
            (
                "new",
                "SELECT token IS NOT NULL FROM users WHERE id IN (1001, 1002)",
                [(True,), (True,)],
            )
        ],
        final=[("SELECT count(DISTINCT token), count(*) FROM users", [(302, 302)])],
    ),
    Case(
        "rename_column",
        [{"rename_column": {"table": "users", "from": "email", "to": "email_address"}}],
        old_writes=["UPDATE users SET email = 'changed-by-old' WHERE id = 1"],
        new_writes=["UPDATE users SET email_address = 'changed-by-new' WHERE id = 2"],
        during=[
            ("new", "SELECT email_address FROM users WHERE id = 1", [("changed-by-old",)]),
            ("old", "SELECT email FROM users WHERE id = 2", [("changed-by-new",)]),
        ],
        final=[
            (
                "SELECT email_address FROM users WHERE id IN (1, 2) ORDER BY id",
                [("changed-by-old",), ("changed-by-new",)],
            )
        ],
        final_columns={"users": ["id", "email_address", "nickname", "amount", "legacy"]},
    ),
    Case(
        "alter_column_type",
        [
            {
                "alter_column": {
                    "table": "users",
                    "column": "amount",
                    "type": "bigint",
                    "up": "amount::bigint * 100",
                    "down": "(amount / 100)::integer",
                }
            }
        ],
        old_writes=["INSERT INTO users (id, email, amount) VALUES (1001, 'old@x', 7)"],
        new_writes=["INSERT INTO users (id, email, amount) VALUES (1002, 'new@x', 4200)"],
        during=[
            (
                "new",
                "SELECT amount FROM users WHERE id IN (1, 1001) ORDER BY id",
                [(1000,), (700,)],
            ),
            ("old", "SELECT amount FROM users WHERE id = 1002", [(42,)]),
        ],
        final=[
            (
                "SELECT amount FROM users WHERE id IN (3, 1001, 1002) ORDER BY id",
                [(3000,), (700,), (4200,)],
            ),
            (
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
                " WHERE attrelid = 'users'::regclass AND attname = 'amount'",
                [("bigint",)],
            ),
            (
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'users_amount_idx'",
                [("CREATE INDEX users_amount_idx ON public.users USING btree (amount)",)],
            ),
        ],
        final_columns={"users": ["id", "email", "nickname", "legacy", "amount"]},
    ),
    Case(
        "alter_column_serial_type",
        [
            {
                "alter_column": {
                    "table": "tickets",
                    "column": "number",
                    "type": "bigint",
                    "up": "number::bigint",
                    "down": "number::integer",
                }
            }
        ],
        old_writes=["INSERT INTO tickets (id) VALUES (21)"],
        new_writes=["INSERT INTO tickets (id) VALUES (22)"],
        # Sequence values may have gaps (a view insert also evaluates the base default).
        during=[
            ("new", "SELECT count(DISTINCT number) FROM tickets WHERE id > 20", [(2,)]),
            ("old", "SELECT count(*) FROM tickets WHERE number IS NULL", [(0,)]),
        ],
        final_writes=["INSERT INTO tickets (id) VALUES (23)"],
        final=[
            ("SELECT number > 22 FROM tickets WHERE id = 23", [(True,)]),
            (
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid ="
                " 'tickets'::regclass AND attname = 'number'",
                [("bigint",)],
            ),
        ],
    ),
    Case(
        "alter_column_not_null",
        [
            {
                "alter_column": {
                    "table": "users",
                    "column": "nickname",
                    "nullable": False,
                    "up": "coalesce(nickname, 'anon')",
                }
            }
        ],
        old_writes=["INSERT INTO users (id, email) VALUES (1001, 'old@x')"],
        new_writes=["INSERT INTO users (id, email, nickname) VALUES (1002, 'new@x', 'neo')"],
        during=[
            (
                "new",
                "SELECT nickname FROM users WHERE id IN (3, 1001, 1002) ORDER BY id",
                [("anon",), ("anon",), ("neo",)],
            ),
            (
                "old",
                "SELECT nickname FROM users WHERE id IN (3, 1001, 1002) ORDER BY id",
                [(None,), (None,), ("neo",)],
            ),
        ],
        final=[
            ("SELECT count(*) FROM users WHERE nickname = 'anon'", [(101,)]),
            (
                "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'users'::regclass"
                " AND attname = 'nickname'",
                [(True,)],
            ),
        ],
    ),
    Case(
        "alter_column_default",
        [{"alter_column": {"table": "users", "column": "nickname", "default": "'newbie'"}}],
        old_writes=["INSERT INTO users (id, email) VALUES (1001, 'old@x')"],
        new_writes=["INSERT INTO users (id, email) VALUES (1002, 'new@x')"],
        during=[
            (
                "old",
                "SELECT nickname FROM users WHERE id IN (1001, 1002) ORDER BY id",
                [(None,), ("newbie",)],
            )
        ],
        final=[
            (
                "SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid ="
                " 'users'::regclass AND adnum = 3",
                [("'newbie'::text",)],
            )
        ],
    ),
    Case(
        "drop_column",
        [{"drop_column": {"table": "users", "column": "legacy", "down": "true"}}],
        old_writes=["INSERT INTO users (id, email, legacy) VALUES (1001, 'old@x', false)"],
        new_writes=["INSERT INTO users (id, email) VALUES (1002, 'new@x')"],
        during=[
            (
                "old",
                "SELECT legacy FROM users WHERE id IN (1001, 1002) ORDER BY id",
                [(False,), (True,)],
            ),
            (
                "new",
                "SELECT count(*) FROM information_schema.columns WHERE table_schema ="
                " current_schema() AND table_name = 'users' AND column_name = 'legacy'",
                [(0,)],
            ),
        ],
        final=[("SELECT count(*) FROM users", [(302,)])],
        final_columns={"users": ["id", "email", "nickname", "amount"]},
    ),
    Case(
        "create_table",
        [
            {
                "create_table": {
                    "name": "audit",
                    "columns": [
                        {"name": "id", "type": "bigint", "primary_key": True, "identity": True},
                        {"name": "note", "type": "text", "nullable": False, "default": "'-'"},
                    ],
                }
            }
        ],
        new_writes=["INSERT INTO audit (note) VALUES ('hello')"],
        during=[("new", "SELECT id, note FROM audit", [(1, "hello")])],
        final_writes=[
            "INSERT INTO audit (note) VALUES ('again')",
            "INSERT INTO audit DEFAULT VALUES",
        ],
        final=[("SELECT id, note FROM audit ORDER BY id", [(1, "again"), (2, "-")])],
        final_columns={"audit": ["id", "note"]},
    ),
    Case(
        "drop_table",
        [{"drop_table": {"name": "old_stuff"}}],
        old_writes=["INSERT INTO old_stuff VALUES (3, 'c')"],
        during=[
            ("old", "SELECT count(*) FROM old_stuff", [(3,)]),
            ("new", "SELECT to_regclass('old_stuff') IS NULL", [(False,)]),
            (
                "new",
                "SELECT count(*) FROM pg_views WHERE schemaname = current_schema()"
                " AND viewname = 'old_stuff'",
                [(0,)],
            ),
        ],
        final=[("SELECT to_regclass('public.old_stuff') IS NULL", [(True,)])],
    ),
    Case(
        "rename_table",
        [{"rename_table": {"from": "customers", "to": "clients"}}],
        old_writes=["INSERT INTO customers VALUES (51, 'from-old')"],
        new_writes=["INSERT INTO clients VALUES (52, 'from-new')"],
        during=[
            ("new", "SELECT name FROM clients WHERE id = 51", [("from-old",)]),
            ("old", "SELECT name FROM customers WHERE id = 52", [("from-new",)]),
        ],
        final=[("SELECT count(*) FROM clients", [(52,)])],
        final_columns={"clients": ["id", "name"]},
    ),
    Case(
        "create_index",
        [
            {
                "create_index": {
                    "name": "users_nick_idx",
                    "table": "users",
                    "columns": ["nickname"],
                    "where": "nickname IS NOT NULL",
                    "unique": True,
                }
            }
        ],
        during=[
            (
                "old",
                "SELECT indisvalid, indisunique FROM pg_index WHERE indexrelid ="
                " 'users_nick_idx'::regclass",
                [(True, True)],
            )
        ],
        final=[("SELECT count(*) FROM pg_indexes WHERE indexname = 'users_nick_idx'", [(1,)])],
    ),
    Case(
        "drop_index",
        [{"drop_index": {"name": "users_email_idx"}}],
        during=[
            ("old", "SELECT count(*) FROM pg_indexes WHERE indexname = 'users_email_idx'", [(1,)])
        ],
        final=[("SELECT count(*) FROM pg_indexes WHERE indexname = 'users_email_idx'", [(0,)])],
    ),
    Case(
        "sql",
        [{"sql": {"up": "CREATE TABLE notes (id int PRIMARY KEY)", "down": "DROP TABLE notes"}}],
        old_writes=["INSERT INTO notes VALUES (1)"],
        during=[("old", "SELECT id FROM notes", [(1,)])],
        final=[("SELECT count(*) FROM notes", [(0,)])],
    ),
]


def _check(sessions: dict[str, Session], checks: list[Check]) -> None:
    for version, query, expected in checks:
        assert sessions[version].rows(query) == expected, f"{version}: {query}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_operation_lifecycle(seeded: EcDatabase, case: Case) -> None:
    url = seeded.url
    m = migration(f"m_{case.id}", *case.operations)
    ec = engine(url)
    with seeded.connect() as conn:
        before = schema_shape(conn)
        before_schemas = schemas(conn)

    # 1. expand: the new version's schema exists; both versions write concurrently.
    ec.apply(m, through="expand")
    old, new = Session(url, None), Session(url, m.schema_for("public"))
    concurrently(lambda: old.run(*case.old_writes), lambda: new.run(*case.new_writes))
    ec.apply(m, through="backfill")
    sessions = {"old": old, "new": new}
    _check(sessions, case.during)
    # The old version's own columns (during expand `SELECT *` also shows ec's _ec_ columns).
    old_columns = "SELECT id, email, nickname, amount, legacy FROM users ORDER BY id"
    old_view = old.rows(old_columns)

    # 2. rollback: schema identical to before; the old version's data (incl. rows the new
    #    version wrote, through down) intact.
    ec.rollback()
    with seeded.connect() as conn:
        assert schema_shape(conn) == before
        assert schemas(conn) - {"expandcontract"} == before_schemas
    if case.id not in ("sql",):
        assert old.rows(old_columns) == old_view

    # 3. again, under the same name: expand + backfill, switch, switch back, switch, contract.
    m2 = migration(f"m_{case.id}", *case.operations)
    ec.apply(m2, through="backfill")
    new = Session(url, m2.schema_for("public"))
    assert ec.switch()["current_schema"] == m2.schema_for("public")
    assert ec.switch(back=True)["current_schema"] == "public"
    ec.switch()
    new.run(*case.final_writes)
    ec.complete()

    # 4. final: the physical schema is the new version's, data exact.
    final = Session(url, None)
    for query, expected in case.final:
        assert final.rows(query) == expected, query
    with seeded.connect() as conn:
        shape = schema_shape(conn)
        leftovers = [
            (t, c[0])
            for t, info in shape.items()
            for c in info["columns"]
            if c[0].startswith("_ec_")
        ]
        assert leftovers == []
        assert all(not info["triggers"] for info in shape.values())
        assert all(valid for info in shape.values() for _, _, valid in info["indexes"])
        for table, columns in case.final_columns.items():
            assert [c[0] for c in shape[table]["columns"]] == columns
    # The new version keeps working through its schema after contract.
    assert new.rows("SELECT count(*) > 0 FROM users")[0] == (True,)
    # Applying a completed migration again changes nothing.
    assert ec.apply(m2, through="contract")["already_completed"] is True
