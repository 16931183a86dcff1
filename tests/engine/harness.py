"""pgroll's test shape for ec: seed -> expand -> both versions read and write through their own
schemas, concurrently, each seeing the other's writes translated -> rollback -> identical to
before -> expand again -> backfill -> switch / switch back -> contract -> final state exact."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from expandcontract.config import Settings
from expandcontract.engine.api import Engine
from expandcontract.engine.backfill import table_backfill
from expandcontract.engine.migration import Migration, from_spec
from expandcontract.schema.introspect import introspect

Rows = list[tuple[Any, ...]]


def migration(name: str, *operations: dict[str, Any]) -> Migration:
    return from_spec({"operations": list(operations)}, default_name=name)


def engine(url: str, **settings: Any) -> Engine:
    s = Settings(**settings)
    return Engine(url, s, backfill=table_backfill(url, s), sink=None)


def schema_shape(conn: psycopg.Connection[Any], schema: str = "public") -> dict[str, Any]:
    """Tables, columns (type, nullability, default), indexes and constraints: comparable."""
    model = introspect(conn, schema)
    return {
        name: {
            "columns": [(c.name, c.type, c.nullable, c.default) for c in table.columns.values()],
            "indexes": sorted((i.name, i.definition, i.valid) for i in table.indexes.values()),
            "constraints": sorted(
                (c.name, c.definition, c.validated) for c in table.constraints.values()
            ),
            "triggers": sorted(table.triggers),
        }
        for name, table in sorted(model.tables.items())
    }


def schemas(conn: psycopg.Connection[Any]) -> set[str]:
    return {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}


@dataclasses.dataclass
class Session:
    """A connection that runs as one app version."""

    url: str
    version_schema: str | None  # None: the old version (knows nothing of ec)
    use_setting: bool = False  # declare the version via the session setting instead

    def connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.url, autocommit=True)
        if self.version_schema:
            if self.use_setting:
                conn.execute(
                    "SELECT set_config('expandcontract.version', %s, false),"
                    " set_config('search_path', %s || ', public', false)",
                    (self.version_schema, self.version_schema),
                )
            else:
                conn.execute(
                    "SELECT set_config('search_path', quote_ident(%s) || ', public', false)",
                    (self.version_schema,),
                )
        return conn

    def rows(self, query: str, params: Any = None) -> Rows:
        with self.connect() as conn:
            return conn.execute(query, params).fetchall()

    def run(self, *statements: str) -> None:
        with self.connect() as conn:
            for statement in statements:
                conn.execute(statement)


def concurrently(*work: Callable[[], None]) -> None:
    """Run callables at the same time; re-raise the first failure."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(work))

    def wrap(fn: Callable[[], None]) -> None:
        try:
            barrier.wait()
            fn()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(fn,)) for fn in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def terminate_lock_session(url: str, command: str) -> int:
    """End the session holding ec's run lock for ``command`` (as a server restart or an
    operator would); returns how many sessions were ended."""
    with psycopg.connect(url, autocommit=True) as conn:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s",
            (f"expandcontract: {command} (%",),
        ).fetchall()
        for (pid,) in pids:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            while conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
                time.sleep(0.01)
    return len(pids)
