"""The lifecycle of tests/engine/test_operations.py as one function, for the per-operation test
modules of issue 13: expand -> both versions write at once -> checks -> rollback leaves the
schema identical -> expand again -> switch / switch back -> contract -> final checks."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import psycopg

from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import Session, concurrently, engine, migration, schema_shape, schemas

Check = Callable[[Session, Session], None]  # (old, new)


@dataclasses.dataclass
class Lifecycle:
    operations: list[dict[str, Any]]
    old_writes: list[str] = dataclasses.field(default_factory=list)
    new_writes: list[str] = dataclasses.field(default_factory=list)
    during: Check | None = None  # after both versions wrote
    final_writes: list[str] = dataclasses.field(default_factory=list)  # new version, switched
    final: Callable[[psycopg.Connection[Any]], None] | None = None  # after contract


def run_lifecycle(db: EcDatabase, case: Lifecycle, name: str = "m_case") -> None:
    url = db.url
    ec = engine(url)
    with db.connect() as conn:
        before = schema_shape(conn)
        before_schemas = schemas(conn)
        before_extra = catalog_extras(conn)

    m = migration(name, *case.operations)
    ec.apply(m, through="expand")
    old, new = Session(url, None), Session(url, m.schema_for("public"))
    concurrently(lambda: old.run(*case.old_writes), lambda: new.run(*case.new_writes))
    ec.apply(m, through="backfill")
    if case.during is not None:
        case.during(old, new)

    ec.rollback()
    with db.connect() as conn:
        assert schema_shape(conn) == before
        assert schemas(conn) - {"expandcontract"} == before_schemas - {"expandcontract"}
        assert catalog_extras(conn) == before_extra

    m2 = migration(name, *case.operations)
    ec.apply(m2, through="backfill")
    new = Session(url, m2.schema_for("public"))
    assert ec.switch()["current_schema"] == m2.schema_for("public")
    assert ec.switch(back=True)["current_schema"] == "public"
    ec.switch()
    new.run(*case.final_writes)
    ec.complete()
    with db.connect() as conn:
        shape = schema_shape(conn)
        assert not [
            c for info in shape.values() for c in info["columns"] if c[0].startswith("_ec_")
        ]
        assert not [
            i for info in shape.values() for i in info["indexes"] if i[0].startswith("_ec_")
        ]
        assert all(not info["triggers"] for info in shape.values())
        assert all(valid for info in shape.values() for _, _, valid in info["indexes"])
        if case.final is not None:
            case.final(conn)
    assert ec.apply(m2, through="contract")["already_completed"] is True


def catalog_extras(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """What schema_shape leaves out: relations of every kind (sequences too), comments and
    replica identities in the public schema."""
    return conn.execute(
        "SELECT c.relname, c.relkind::text, c.relreplident::text,"
        " obj_description(c.oid, 'pg_class')"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' ORDER BY 1"
    ).fetchall()


def constraints(conn: psycopg.Connection[Any], table: str) -> dict[str, str]:
    return dict(
        conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype <> 'n'",
            (table,),
        ).fetchall()
    )


def indexes(conn: psycopg.Connection[Any], table: str) -> dict[str, str]:
    return dict(
        conn.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass",
            (table,),
        ).fetchall()
    )


def sqlstate(session: Session, statement: str) -> str | None:
    """The SQLSTATE ``statement`` fails with, None when it succeeds."""
    try:
        session.run(statement)
    except psycopg.Error as exc:
        return exc.sqlstate
    return None
