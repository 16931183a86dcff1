"""The lifecycle every constraint operation goes through in its tests (pgroll's shape): seed ->
expand -> both versions write concurrently through their schemas -> what each version accepts
and refuses -> rollback leaves the schema identical -> expand again -> switch / switch back ->
contract -> the final catalog, exactly."""

from __future__ import annotations

import dataclasses
from typing import Any

import psycopg
import pytest

from expandcontract.operations.base import MigrationInvalid
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import Session, concurrently, engine, migration, schema_shape, schemas

Check = tuple[str, str, list[tuple[Any, ...]]]  # (version "old"|"new", query, expected rows)
Refused = tuple[str, str, str]  # (version, statement, SQLSTATE it must fail with)

SEED = [
    "CREATE TABLE sellers (name text NOT NULL, zip integer NOT NULL, PRIMARY KEY (name, zip))",
    "INSERT INTO sellers VALUES ('alice', 1), ('bob', 2)",
    "CREATE TABLE tickets (id integer PRIMARY KEY, seller_name text, seller_zip integer,"
    " code text, price integer)",
    "INSERT INTO tickets VALUES (1, 'alice', 1, 'c1', 10), (2, 'bob', 2, 'c2', 20),"
    " (3, NULL, NULL, NULL, 30), (4, 'alice', 1, NULL, 40), (5, 'bob', 2, 'c5', 50)",
    "CREATE TABLE people (id integer PRIMARY KEY, email text, age integer)",
    "INSERT INTO people VALUES (1, 'a@x', 30), (2, 'a@x', 40), (3, 'b@x', -5), (4, NULL, 20),"
    " (5, NULL, NULL)",
    "CREATE TABLE events (a integer, b text)",  # no primary key
    "INSERT INTO events VALUES (1, 'x'), (2, 'y'), (3, NULL)",
]


def seed(db: EcDatabase) -> None:
    with db.connect() as conn:
        for statement in SEED:
            conn.execute(statement)
        conn.execute("ANALYZE")


def constraints(db: EcDatabase, table: str) -> list[tuple[str, str, str, bool]]:
    """(name, contype, definition, validated) of a table, by name."""
    with db.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                "SELECT conname, contype::text, pg_get_constraintdef(oid), convalidated"
                " FROM pg_constraint WHERE conrelid = %s::regclass AND contype <> 'n'"
                " ORDER BY conname",
                (table,),
            )
        ]


def create(**fields: Any) -> dict[str, Any]:
    return {"create_constraint": fields}


def refused_first(db: EcDatabase, ops: list[dict[str, Any]], message: str) -> MigrationInvalid:
    """Refused before any statement ran: the schema is exactly as before, no version schema."""
    with db.connect() as conn:
        before, before_schemas = schema_shape(conn), schemas(conn)
    with pytest.raises(MigrationInvalid) as info:
        engine(db.url).apply(migration("bad", *ops))
    assert message in str(info.value), str(info.value)
    with db.connect() as conn:
        assert schema_shape(conn) == before
        assert schemas(conn) - {"expandcontract"} == before_schemas - {"expandcontract"}
    return info.value


def refused(session: Session, statement: str, sqlstate: str) -> None:
    with pytest.raises(psycopg.Error) as err:
        session.run(statement)
    assert err.value.sqlstate == sqlstate, (statement, err.value)


@dataclasses.dataclass
class Case:
    id: str
    operations: list[dict[str, Any]]
    old_writes: list[str] = dataclasses.field(default_factory=list)
    new_writes: list[str] = dataclasses.field(default_factory=list)
    during: list[Check] = dataclasses.field(default_factory=list)
    refused: list[Refused] = dataclasses.field(default_factory=list)  # while both run
    final: list[tuple[str, list[tuple[Any, ...]]]] = dataclasses.field(default_factory=list)
    table: str = "tickets"
    final_constraints: list[tuple[str, str, str, bool]] = dataclasses.field(default_factory=list)
    refused_after: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # new version


def run(db: EcDatabase, case: Case) -> None:
    url = db.url
    m = migration(f"m_{case.id}", *case.operations)
    ec = engine(url)
    with db.connect() as conn:
        before = schema_shape(conn)
        before_schemas = schemas(conn)
    before_constraints = constraints(db, case.table)

    ec.apply(m, through="expand")
    old, new = Session(url, None), Session(url, m.schema_for("public"))
    concurrently(lambda: old.run(*case.old_writes), lambda: new.run(*case.new_writes))
    ec.apply(m, through="backfill")
    sessions = {"old": old, "new": new}
    for version, query, expected in case.during:
        assert sessions[version].rows(query) == expected, f"{version}: {query}"
    for version, statement, sqlstate in case.refused:
        refused(sessions[version], statement, sqlstate)

    ec.rollback()
    with db.connect() as conn:
        assert schema_shape(conn) == before
        assert schemas(conn) - {"expandcontract"} == before_schemas
    assert constraints(db, case.table) == before_constraints

    m2 = migration(f"m_{case.id}", *case.operations)
    ec.apply(m2, through="backfill")
    new = Session(url, m2.schema_for("public"))
    assert ec.switch()["current_schema"] == m2.schema_for("public")
    assert ec.switch(back=True)["current_schema"] == "public"
    ec.switch()
    ec.complete()

    final = Session(url, None)
    for query, expected in case.final:
        assert final.rows(query) == expected, query
    found = constraints(db, case.table)
    assert found == sorted(case.final_constraints), found
    with db.connect() as conn:
        shape = schema_shape(conn)
    leftovers = [(t, c[0]) for t, i in shape.items() for c in i["columns"] if c[0][:4] == "_ec_"]
    assert leftovers == []
    assert all(not info["triggers"] for info in shape.values())
    assert all(valid for info in shape.values() for _, _, valid in info["indexes"])
    for statement, sqlstate in case.refused_after:
        refused(new, statement, sqlstate)
    assert ec.apply(m2, through="contract")["already_completed"] is True
