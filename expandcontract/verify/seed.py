"""Rows generated from an app version's MetaData: NULLs where nullable, duplicates where not
unique, unique columns respected across every writer, foreign keys pointing at existing parents.
The values themselves are hypothesis-drawn (``verify.pools``, ``verify.values``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Column, Identity, Table
from sqlalchemy import types as sqltypes

from expandcontract.verify.pools import ValuePools, marker
from expandcontract.verify.values import UnsupportedType

NULL_PROBABILITY = 0.15
DEFAULT_SKIP_PROBABILITY = 0.3  # omit a column with a default so the default is exercised
UNIQUE_ATTEMPTS = 50


class UniqueRegistry:
    """Values taken by unique columns, shared by every writer (keys name the old version's
    table and columns, so renamed columns stay one key)."""

    def __init__(self) -> None:
        self._taken: dict[tuple[str, tuple[str, ...]], set[Any]] = {}
        self._lock = threading.Lock()

    def claim(self, key: tuple[str, tuple[str, ...]], value: Any) -> bool:
        claimed = marker(value)
        with self._lock:
            taken = self._taken.setdefault(key, set())
            if claimed in taken:
                return False
            taken.add(claimed)
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


class RowFactory:
    """Generates rows for one version's tables. ``parents`` maps (table, column) to key values
    that exist, so foreign keys stay consistent; ``key_name`` maps this version's
    (table, columns) to the shared unique-registry key; ``pools`` holds the drawn values (one
    per verify run, shared by every factory; by default, one seeded from ``rng``)."""

    def __init__(
        self,
        rng: random.Random,
        registry: UniqueRegistry,
        parents: dict[tuple[str, str], list[Any]],
        key_name: Any = None,
        pools: ValuePools | None = None,
    ) -> None:
        self.rng = rng
        self.registry = registry
        self.parents = parents
        self.key_name = key_name or (lambda table, cols: (table, cols))
        self.pools = pools if pools is not None else ValuePools(rng.getrandbits(64))

    def _fk_target(self, column: Column[Any]) -> tuple[str, str] | None:
        for fk in column.foreign_keys:
            target = fk.column
            return (target.table.name, target.name)
        return None

    def value(self, table: Table, column: Column[Any], *, unique: bool = False) -> Any:
        """A value for ``column``. ``unique`` (the column alone is a unique key): a value no
        writer has had, already claimed in the registry. Columns of a wider unique key take
        pool values: the registry rejects the rare repeated combination, and a narrow type in
        the key (a flag) does not run dry."""
        target = self._fk_target(column)
        if target is not None:
            candidates = self.parents.get(target) or []
            if not candidates or (column.nullable and self.rng.random() < NULL_PROBABILITY):
                return None
            return self.rng.choice(candidates)
        if column.nullable and not column.primary_key and self.rng.random() < NULL_PROBABILITY:
            return None
        try:
            if unique:
                return self._fresh(table, column)
            return self.pools.pick(self.rng, table.name, column.name, column.type)
        except UnsupportedType:
            if column.nullable:
                return None  # a type ec cannot generate: NULL is still a value the app writes
            raise

    def _fresh(self, table: Table, column: Column[Any]) -> Any:
        # Another stream (the other version's renamed or retyped column) may have handed out
        # the same value: hypothesis starts every seed with similar simple values. The stream
        # never repeats and the registry is finite, so this ends, or the stream runs dry
        # (ConfigError).
        key = self.key_name(table.name, (column.name,))
        while True:
            value = self.pools.take_unique(table.name, column.name, column.type)
            if self.registry.claim(key, (value,)):
                return value

    def row(
        self, table: Table, columns: Iterable[str] | None = None, *, full: bool = False
    ) -> dict[str, Any]:
        """A row for ``table`` (only ``columns`` when given: updates; every column with
        ``full``: batched seeding needs one shape), unique keys respected."""
        wanted = set(columns) if columns is not None else None
        groups = unique_groups(table)
        # keys of one column take fresh values, claimed as they are drawn
        streamed = {
            group[0] for group in groups if len(group) == 1 and not table.c[group[0]].foreign_keys
        }
        wider = [group for group in groups if not (len(group) == 1 and group[0] in streamed)]
        for _ in range(UNIQUE_ATTEMPTS):
            row: dict[str, Any] = {}
            for column in table.columns:
                if server_generated(column) or (wanted is not None and column.name not in wanted):
                    continue
                has_default = column.server_default is not None or column.default is not None
                if (
                    wanted is None
                    and not full
                    and has_default
                    and not column.primary_key
                    and self.rng.random() < DEFAULT_SKIP_PROBABILITY
                ):
                    continue
                row[column.name] = self.value(table, column, unique=column.name in streamed)
            if self._claim(table, row, wider):
                return row
        raise RuntimeError(f"could not generate a row for {table.name} with unique keys")

    def _claim(self, table: Table, row: dict[str, Any], groups: list[tuple[str, ...]]) -> bool:
        for group in groups:
            if not all(c in row for c in group):
                continue
            values = tuple(row[c] for c in group)
            if any(v is None for v in values):
                continue  # NULLs never collide in a unique index
            if not self.registry.claim(self.key_name(table.name, group), values):
                return False
        return True
