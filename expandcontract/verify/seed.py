"""Rows generated from an app version's MetaData with hypothesis strategies: NULLs where
nullable, duplicates where not unique, unique columns respected across every writer, foreign
keys pointing at existing parents.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Column, Identity, Table
from sqlalchemy import types as sqltypes

from expandcontract.errors import ECError
from expandcontract.verify import draws, strategies

CHUNK = 64  # rows drawn per hypothesis run once the reserved rows are used up
UNIQUE_ATTEMPTS = 50


class UniqueRegistry:
    """Values taken by unique columns, shared by every writer (keys name the old version's
    table and columns, so renamed columns stay one key)."""

    def __init__(self) -> None:
        self._taken: dict[tuple[str, tuple[str, ...]], set[Any]] = {}
        self._lock = threading.Lock()

    def claim(self, key: tuple[str, tuple[str, ...]], value: Any) -> bool:
        marker = repr(value)
        with self._lock:
            taken = self._taken.setdefault(key, set())
            if marker in taken:
                return False
            taken.add(marker)
            return True


def server_generated(column: Column[Any]) -> bool:
    """Primary keys the database numbers: identity, serial (SQLAlchemy's autoincrement)."""
    if isinstance(column.default, Identity) or column.identity is not None:
        return True
    if column.computed is not None:
        return True
    table = column.table
    return (
        column.primary_key
        and column is table._autoincrement_column
        and isinstance(column.type, sqltypes.Integer)
    )


def unique_groups(table: Table) -> list[tuple[str, ...]]:
    groups: list[tuple[str, ...]] = []
    pk = tuple(c.name for c in table.primary_key.columns)
    if pk and not any(server_generated(c) for c in table.primary_key.columns):
        groups.append(pk)
    for constraint in table.constraints:
        if type(constraint).__name__ == "UniqueConstraint":
            groups.append(tuple(c.name for c in constraint.columns))  # type: ignore[attr-defined]
    for index in table.indexes:
        if index.unique:
            groups.append(tuple(c.name for c in index.columns))
    for column in table.columns:
        if column.unique:
            groups.append((column.name,))
    return list(dict.fromkeys(groups))


class RowSource:
    """An endless, reproducible stream of rows of one strategy: hypothesis runs of ``CHUNK``
    examples (or as many as reserved), each seeded from ``seed`` and the run's number. A
    strategy hypothesis exhausts (a boolean and an enum) is cycled.

    Every run starts with hypothesis' simplest example (zeros, empty strings, NULLs): only
    the first run keeps it, and only with ``simplest`` (the seed has it; workloads skip it)."""

    def __init__(self, strategy: strategies.Strategy, seed: int, *, simplest: bool) -> None:
        self.strategy = strategy
        self.seed = seed
        self.simplest = simplest
        self._rows: list[dict[str, Any]] = []
        self._next = 0
        self._runs = 0
        self._exhausted = False
        self._wanted = CHUNK

    def reserve(self, n: int) -> None:
        """The next run draws at least ``n`` rows: one run is faster than many small ones."""
        self._wanted = max(self._wanted, n - (len(self._rows) - self._next))

    def next(self) -> dict[str, Any]:
        if self._next >= len(self._rows):
            if self._exhausted:
                self._next = 0
            else:
                self._refill()
        row = self._rows[self._next]
        self._next += 1
        return dict(row)

    def _refill(self) -> None:
        n, self._wanted = self._wanted, CHUNK
        skip = 0 if self.simplest and self._runs == 0 else 1
        rows = draws.draw(self.strategy, n + skip, draws.derive_seed(self.seed, self._runs))
        self._runs += 1
        if len(rows) < n + skip:  # hypothesis enumerated every row: cycle them from now on
            self._exhausted = True
        else:
            rows = rows[skip:]
        self._rows, self._next = rows, 0


class RowFactory:
    """Generates rows for one version's tables. ``parents`` maps (table, column) to key values
    that exist, so foreign keys stay consistent; ``key_name`` maps this version's
    (table, columns) to the shared unique-registry key. The same ``seed`` draws the same rows;
    ``simplest``: see ``RowSource``."""

    def __init__(
        self,
        seed: int,
        registry: UniqueRegistry,
        parents: dict[tuple[str, str], list[Any]],
        key_name: Any = None,
        *,
        simplest: bool = True,
    ) -> None:
        self.seed = seed
        self.simplest = simplest
        self.registry = registry
        self.parents = parents
        self.key_name = key_name or (lambda table, cols: (table, cols))
        self._sources: dict[tuple[str, bool], RowSource] = {}

    def _source(self, table: Table, every_column: bool) -> RowSource:
        """Rows of every generated column; without ``every_column``, a column with a default
        may be left out (the default is then exercised)."""
        source = self._sources.get((table.name, every_column))
        if source is None:
            generated = [c for c in table.columns if not server_generated(c)]
            optional = [] if every_column else [c for c in generated if _has_default(c)]
            required = [c for c in generated if c not in optional]
            parent_keys = {
                c.name: tuple(self.parents.get(target) or ())
                for c in generated
                if (target := _fk_target(c)) is not None
            }
            strategy = strategies.for_row(required, parent_keys, optional)
            seed = draws.derive_seed(self.seed, table.name, every_column)
            source = self._sources[(table.name, every_column)] = RowSource(
                strategy, seed, simplest=self.simplest
            )
        return source

    def rows(self, table: Table, n: int) -> list[dict[str, Any]]:
        """``n`` rows with every column (batched seeding needs one shape)."""
        self._source(table, True).reserve(n)
        return [self.row(table, full=True) for _ in range(n)]

    def row(
        self, table: Table, columns: Iterable[str] | None = None, *, full: bool = False
    ) -> dict[str, Any]:
        """A row for ``table`` (only ``columns`` when given: updates; every column with
        ``full``), unique keys respected."""
        wanted = set(columns) if columns is not None else None
        source = self._source(table, full or wanted is not None)
        groups = unique_groups(table)
        clash: tuple[str, ...] = ()
        for _ in range(UNIQUE_ATTEMPTS):
            row = source.next()
            if wanted is not None:
                row = {name: value for name, value in row.items() if name in wanted}
            clash = self._claim(table, row, groups)
            if not clash:
                return row
        raise ECError(
            f"cannot generate another row for {table.name} with a unique "
            f"({', '.join(clash)}): {UNIQUE_ATTEMPTS} drawn rows repeated taken values",
            "the column's type holds too few distinct values; lower --rows",
        )

    def _claim(
        self, table: Table, row: dict[str, Any], groups: list[tuple[str, ...]]
    ) -> tuple[str, ...]:
        """Claims the row's unique values; the group that clashes, or () when none does."""
        for group in groups:
            if not all(c in row for c in group):
                continue
            values = tuple(row[c] for c in group)
            if any(v is None for v in values):
                continue  # NULLs never collide in a unique index
            if not self.registry.claim(self.key_name(table.name, group), values):
                return group
        return ()


def _has_default(column: Column[Any]) -> bool:
    has_default = column.server_default is not None or column.default is not None
    return has_default and not column.primary_key


def _fk_target(column: Column[Any]) -> tuple[str, str] | None:
    for fk in column.foreign_keys:
        return (fk.column.table.name, fk.column.name)
    return None
