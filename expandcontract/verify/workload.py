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

from expandcontract.dsn import display_text
from expandcontract.verify import explain
from expandcontract.verify.compare import same, show
from expandcontract.verify.derived import Derivation
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
    # what ec's dual-write trigger computes from this version's writes while the other version
    # is live (their source is this version): a write they cannot hold is explained
    derivations: list[Derivation] = dataclasses.field(default_factory=list)
    other_metadata: MetaData | None = None  # the other version's, for the derived columns
    other_live: bool = True  # False: only ec's trigger still computes them (during contract)
    failures: list[Failure] = dataclasses.field(default_factory=list)
    statements: int = 0
    suppressed: int = 0  # distinct failures beyond MAX_FAILURES
    phase: str = ""
    _seen: set[tuple[str, str]] = dataclasses.field(default_factory=set)

    def fail(self, statement: str, reason: str, finding: str | None = None) -> None:
        """Record a failure; ``finding`` names what failed when ``reason`` varies with the
        values (an explained failure quotes the value)."""
        # the same statement failing the same way on another row is the same finding
        where = statement.split(" WHERE", maxsplit=1)[0].split("  -- values", maxsplit=1)[0]
        key = (where[:200], finding or reason.split(" (Failing row", maxsplit=1)[0])
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
    return display_text(text)


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

    def _run(
        self,
        conn_fn: Callable[[Connection], Any],
        stmt: Any,
        params: Any,
        *,
        table: Table | None = None,
        after: dict[str, Any] | None = None,
    ) -> Any:
        """Run one statement in its own transaction; a failure is recorded. ``table`` and
        ``after`` (the row as the write leaves it): a write a derivation cannot hold is
        explained."""
        self.w.statements += 1
        try:
            with self.w.engine.begin() as conn:
                return conn_fn(conn)
        except SQLAlchemyError as exc:
            explained = None
            if table is not None and after is not None:
                explained = self._explain(table, after, exc)
            if explained is not None:
                self.w.fail(sql_text(stmt, params), *explained)
            else:
                self.w.fail(sql_text(stmt, params), reason_of(exc))
            return None

    def _explain(
        self, table: Table, after: dict[str, Any], exc: SQLAlchemyError
    ) -> tuple[str, str] | None:
        """(message, finding) when a derivation of this write cannot hold its values."""
        error = exc.orig if isinstance(exc, DBAPIError) else None
        code = getattr(error, "sqlstate", None)
        if error is None or not explain.explained_sqlstate(code):
            return None
        candidates = [d for d in self.w.derivations if d.table(self.w.version) == table.name]
        if not candidates or self.w.other_metadata is None:
            return None
        try:
            cause = explain.find_cause(self.w.engine, candidates, table, after, error)
        except SQLAlchemyError:
            return None
        if cause is None:
            return None
        d, values = cause
        target = self.w.other_metadata.tables.get(d.table(d.target))
        if target is None:
            return None
        message = explain.write_failure(
            d, values, error, table, target, other_live=self.w.other_live
        )
        return message, f"{d.name} {code}"

    def _good_row(
        self,
        table: Table,
        columns: list[str] | None = None,
        current: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A valid row; for an update (``current``: the row now), values that differ from
        the current ones, checked as the whole row they make."""
        for _ in range(20):
            row = self.w.factory.row(table, columns)
            if current is not None:
                row = {k: v for k, v in row.items() if not same(v, current.get(k))}
                if columns is not None and len(row) < len(columns):
                    continue
            whole = row if current is None else {**_insertable(table, current), **row}
            if self.w.validate is None or self.w.validate(table, whole):
                return row
        return row

    def insert(self, table: Table) -> Key | None:
        row = self._good_row(table)
        stmt = insert(table).values(row).returning(*table.primary_key.columns)
        result = self._run(lambda c: c.execute(stmt).first(), stmt, row, table=table, after=row)
        if result is None:
            return None
        key = key_of(table, result)
        self._track(table, key, row, inserted=True)
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

    def current(self, table: Table, key: Key) -> dict[str, Any] | None:
        """The row as this version reads it now (None: gone, or the read failed)."""
        stmt = select(table).where(where_key(table, key))
        found = self._run(lambda c: c.execute(stmt).first(), stmt, {"key": key})
        return dict(found._mapping) if found is not None else None

    def update(
        self, table: Table, key: Key, columns: list[str] | None = None
    ) -> dict[str, Any] | None:
        """Change ``columns`` (by default two random ones) of row ``key`` to values that
        differ from the current ones, so every column written is a column changed: what the
        other version derives from it must follow. Returns what was written."""
        if columns is None:
            candidates = updatable(table)
            if not candidates:
                return None
            columns = self.rng.sample(candidates, k=min(2, len(candidates)))
        now = self.current(table, key)
        if now is None:
            return None
        row = self._good_row(table, columns, now)
        if not row:
            return None  # no other value fits these columns
        stmt = update(table).where(where_key(table, key)).values(row)
        after = {**now, **row}
        if self._run(lambda c: c.execute(stmt), stmt, row, table=table, after=after) is None:
            return None
        self._track(table, key, row)
        self.read(table, key, row)
        return row

    def delete(self, table: Table, key: Key) -> None:
        stmt = delete(table).where(where_key(table, key))
        if self._run(lambda c: c.execute(stmt), stmt, {"key": key}) is not None:
            identity = self.w.identity(table.name)
            if identity is not None:
                self.w.tracker.removed(identity, key)

    def _track(
        self, table: Table, key: Key, row: dict[str, Any], *, inserted: bool = False
    ) -> None:
        identity = self.w.identity(table.name)
        if identity is not None:
            written = Written(self.w.version, table.name, dict(row), self.w.phase, inserted)
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


def updatable(table: Table) -> list[str]:
    """Columns a workload may change: not the key, no foreign key, not database-generated."""
    return [
        c.name
        for c in table.columns
        if not c.primary_key and not c.foreign_keys and not server_generated(c)
    ]


def _insertable(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` without what the database generates (a whole-row check inserts it)."""
    return {k: v for k, v in row.items() if k in table.c and not server_generated(table.c[k])}


def _referenced(table: Table) -> bool:
    metadata = table.metadata
    return any(
        fk.column.table is table for other in metadata.tables.values() for fk in other.foreign_keys
    )
