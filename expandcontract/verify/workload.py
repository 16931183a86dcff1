"""Dynamic check: an app version's generated workload through SQLAlchemy Core bound to its
version — inserts, reads by primary key, updates, deletes — each failure reported with the
statement and PostgreSQL's reason."""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import MetaData, Table, and_, delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from expandcontract.dsn import mask_dsn
from expandcontract.verify.compare import same, show
from expandcontract.verify.seed import RowFactory, server_generated
from expandcontract.verify.tracker import Key, Tracker, Written
from expandcontract.verify.types import PG_DIALECT

DELETE_PROBABILITY = 0.3
MAX_ROUNDS = 200
MAX_FAILURES = 20  # per workload and phase: the first ones say what is wrong


@dataclasses.dataclass(frozen=True)
class Failure:
    statement: str
    reason: str


@dataclasses.dataclass
class Writer:
    """One app version writing: its MetaData, a SQLAlchemy Engine bound to its version, a row
    factory, and how its table names map to the old version's (the tracker's identity)."""

    version: str
    metadata: MetaData
    engine: Engine
    factory: RowFactory
    tracker: Tracker
    identity: Callable[[str], str | None]  # table name -> old version's table name
    validate: Callable[[Table, dict[str, Any]], bool] | None = None
    failures: list[Failure] = dataclasses.field(default_factory=list)
    statements: int = 0
    suppressed: int = 0  # distinct failures beyond MAX_FAILURES
    phase: str = ""
    _seen: set[tuple[str, str]] = dataclasses.field(default_factory=set)

    def fail(self, statement: str, reason: str) -> None:
        # the same statement failing the same way on another row is the same finding
        where = statement.split(" WHERE", maxsplit=1)[0].split("  -- values", maxsplit=1)[0]
        key = (where[:200], reason.split(" (Failing row", maxsplit=1)[0])
        if key in self._seen:
            return  # the same statement failing the same way is one finding
        self._seen.add(key)
        if len(self.failures) >= MAX_FAILURES:
            self.suppressed += 1
            return
        self.failures.append(Failure(statement, reason))


def sql_text(stmt: Any, params: dict[str, Any] | None = None) -> str:
    text = str(stmt.compile(dialect=PG_DIALECT)).replace("\n", " ")
    if params:
        shown = ", ".join(f"{k}={show(v, 40)}" for k, v in params.items())
        text += f"  -- values: {shown}"
    return mask_dsn(text)


def reason_of(exc: SQLAlchemyError) -> str:
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        diag = getattr(exc.orig, "diag", None)
        primary = getattr(diag, "message_primary", None) or str(exc.orig).split("\n")[0]
        detail = getattr(diag, "message_detail", None)
        return f"{primary} ({detail})" if detail else str(primary)
    return str(exc).split("\n")[0]


def key_of(table: Table, row: Any) -> Key:
    return tuple(row._mapping[c.name] for c in table.primary_key.columns)


def where_key(table: Table, key: Key) -> Any:
    return and_(*[c == v for c, v in zip(table.primary_key.columns, key, strict=True)])


class Workload:
    def __init__(self, writer: Writer, seed: int) -> None:
        self.w = writer
        self.rng = random.Random(seed)

    def _run(self, conn_fn: Callable[[Connection], Any], stmt: Any, params: Any) -> Any:
        self.w.statements += 1
        try:
            with self.w.engine.begin() as conn:
                return conn_fn(conn)
        except SQLAlchemyError as exc:
            self.w.fail(sql_text(stmt, params), reason_of(exc))
            return None

    def _good_row(self, table: Table, columns: list[str] | None = None) -> dict[str, Any]:
        for _ in range(20):
            row = self.w.factory.row(table, columns)
            if self.w.validate is None or self.w.validate(table, row):
                return row
        return row

    def insert(self, table: Table) -> Key | None:
        row = self._good_row(table)
        stmt = insert(table).values(row).returning(*table.primary_key.columns)
        result = self._run(lambda c: c.execute(stmt).first(), stmt, row)
        if result is None:
            return None
        key = key_of(table, result)
        self._track(table, key, row)
        self.read(table, key, row)
        return key

    def read(self, table: Table, key: Key, expected: dict[str, Any]) -> None:
        stmt = select(table).where(where_key(table, key))
        found = self._run(lambda c: c.execute(stmt).first(), stmt, {"key": key})
        if found is None:
            if not any(f.statement.startswith("SELECT") for f in self.w.failures[-1:]):
                self.w.fail(sql_text(stmt), f"the row {table.name} {key} it wrote is not there")
            return
        for name, value in expected.items():
            got = found._mapping[name]
            if not same(value, got):
                self.w.fail(
                    sql_text(stmt),
                    f"{table.name}.{name} of row {key} reads back {show(got)}, "
                    f"the {self.w.version} version wrote {show(value)}",
                )

    def update(self, table: Table, key: Key) -> None:
        columns = [
            c.name
            for c in table.columns
            if not c.primary_key and not c.foreign_keys and not server_generated(c)
        ]
        if not columns:
            return
        row = self._good_row(table, self.rng.sample(columns, k=min(2, len(columns))))
        stmt = update(table).where(where_key(table, key)).values(row)
        if self._run(lambda c: c.execute(stmt), stmt, row) is None:
            return
        self._track(table, key, row)
        self.read(table, key, row)

    def delete(self, table: Table, key: Key) -> None:
        stmt = delete(table).where(where_key(table, key))
        if self._run(lambda c: c.execute(stmt), stmt, {"key": key}) is not None:
            identity = self.w.identity(table.name)
            if identity is not None:
                self.w.tracker.removed(identity, key)

    def _track(self, table: Table, key: Key, row: dict[str, Any]) -> None:
        identity = self.w.identity(table.name)
        if identity is not None:
            written = Written(self.w.version, table.name, dict(row), self.w.phase)
            self.w.tracker.wrote(identity, key, written)

    def round(self, seeded: dict[str, list[Key]]) -> None:
        for table in self.w.metadata.sorted_tables:
            key = self.insert(table)
            if key is not None:
                self.update(table, key)
                if self.rng.random() < DELETE_PROBABILITY and not _referenced(table):
                    self.delete(table, key)
            # a row written earlier (possibly by the other version) is updated too
            # each version updates its own half of the seeded rows: concurrent writes to one
            # row would make read-your-writes fail for reasons no app could avoid
            candidates = (seeded.get(table.name) or [])[int(self.w.version == "new") :: 2]
            if candidates:
                self.update(table, self.rng.choice(candidates))

    def run(
        self,
        seeded: dict[str, list[Key]],
        *,
        rounds: int,
        until: threading.Event | None = None,
    ) -> None:
        """``rounds`` rounds; with ``until``, keep going (bounded) until it is set."""
        done = 0
        while done < rounds or (until is not None and not until.is_set() and done < MAX_ROUNDS):
            self.round(seeded)
            done += 1


def _referenced(table: Table) -> bool:
    metadata = table.metadata
    return any(
        fk.column.table is table for other in metadata.tables.values() for fk in other.foreign_keys
    )
