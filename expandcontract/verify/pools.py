"""Column values drawn by hypothesis' engine, reproducible from the verify seed.

Library code cannot draw from a strategy directly (``.example()`` is for the REPL), so values
come from hypothesis' public engine: a ``@given`` function collecting what it is handed, with
``@seed`` derived from the verify seed and the column, generate phase only. It runs in a
worker thread: hypothesis refuses a ``@given`` run inside another one on the same thread, and
``verify_migration`` is often called from a user's own ``@given`` test. The thread lives as
long as the process, so hypothesis sets itself up for it once.

Drawing is the expensive part, so each column gets one *pool* per verify run (``ValuePools``
is shared by every row factory): a few hundred values the factories pick from with their own
``random.Random`` — which also repeats values, as real data does. A column that must not
repeat instead hands out fresh values in order (``UniqueValues``), drawing more when it runs
dry.
"""

from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import math
import os
import random
import threading
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument, Unsatisfiable
from sqlalchemy import types as sqltypes

from expandcontract.errors import ConfigError
from expandcontract.verify.values import strategy_for

POOL_SIZE = 300  # values per column that may repeat: variety enough, and duplicates
CHUNK = 25  # values per hypothesis example: one list, well inside hypothesis' size budget
UNIQUE_BATCH = (100, 1600)  # fresh values drawn when a unique column runs dry: first, most
DRY_DRAWS = 3  # draws in a row that bring nothing new: the type has no more distinct values
_WORKER: concurrent.futures.ThreadPoolExecutor | None = None
_WORKER_LOCK = threading.Lock()


def marker(value: Any) -> str:
    """What makes two values one value to a unique index (and to ``UniqueRegistry``)."""
    return repr(value)


def stable_seed(*parts: object) -> int:
    """A seed from ``parts`` that is the same in every process (``hash()`` is salted)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def draw(
    strategy: st.SearchStrategy[Any],
    count: int,
    seed: int,
    *,
    unique: bool = False,
    chunk: int = CHUNK,
) -> list[Any]:
    """About ``count`` values of ``strategy`` (fewer when hypothesis runs out of distinct
    examples), the same for the same ``seed``. With ``unique``, no two in a chunk are equal;
    hypothesis raises Unsatisfiable or InvalidArgument when the type has fewer than ``chunk``.
    """
    elements = st.lists(
        strategy, min_size=chunk, max_size=chunk, unique_by=marker if unique else None
    )
    examples = max(1, math.ceil(count / chunk))
    return _worker().submit(_run_engine, elements, examples, seed).result()


def _run_engine(elements: st.SearchStrategy[list[Any]], examples: int, seed: int) -> list[Any]:
    out: list[Any] = []

    # decorated here, in the worker: @given itself refuses to be applied inside a @given test
    @hypothesis_seed(seed)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=False,  # a user's profile may set it: @seed must decide
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        print_blob=False,
        backend="hypothesis",
    )
    @given(elements)
    def collect(values: list[Any]) -> None:
        out.extend(values)

    collect()
    return out


def _worker() -> concurrent.futures.ThreadPoolExecutor:
    """One long-lived thread for every draw: it serialises hypothesis' engine (not documented
    as thread-safe; workloads draw from several threads), and a fresh thread per draw costs
    ~20 ms of hypothesis' per-thread set-up."""
    global _WORKER
    with _WORKER_LOCK:
        if _WORKER is None:
            _WORKER = concurrent.futures.ThreadPoolExecutor(1, "ec-verify-values")
        return _WORKER


def _forget_worker() -> None:
    global _WORKER, _WORKER_LOCK
    _WORKER, _WORKER_LOCK = None, threading.Lock()  # a forked child has no worker thread


os.register_at_fork(after_in_child=_forget_worker)


class UniqueValues:
    """Values for a column that must not repeat, handed out in order to every writer that
    shares the stream; more are drawn (with a seed derived from the draw's number) when it
    runs dry. ConfigError when the type has no more distinct values."""

    def __init__(self, strategy: st.SearchStrategy[Any], seed: int, where: str) -> None:
        self._strategy = strategy
        self._seed = seed
        self._where = where
        self._queue: collections.deque[Any] = collections.deque()
        self._seen: set[str] = set()
        self._draws = 0
        self._chunk = CHUNK
        self._batch = UNIQUE_BATCH[0]  # doubles with every draw: few draws for many rows
        self._lock = threading.Lock()

    def take(self) -> Any:
        with self._lock:
            if not self._queue:
                self._refill()
            return self._queue.popleft()

    def _refill(self) -> None:
        dry = 0
        while dry < DRY_DRAWS:
            seed = stable_seed(self._seed, self._draws)
            self._draws += 1
            try:
                drawn = draw(self._strategy, self._batch, seed, unique=True, chunk=self._chunk)
            except (Unsatisfiable, InvalidArgument):
                if self._chunk > 1:  # fewer distinct values than a chunk: smaller chunks
                    self._chunk //= 2
                    continue
                drawn = []
            fresh = [value for value in drawn if self._claim(value)]
            if fresh:
                self._queue.extend(fresh)
                self._batch = min(self._batch * 2, UNIQUE_BATCH[1])
                return
            dry += 1
        raise ConfigError(
            f"cannot generate more distinct values for {self._where}: it is unique, and its "
            f"type gave only {len(self._seen)} different values",
            "use fewer --rows, or a wider type for the unique column",
        )

    def _claim(self, value: Any) -> bool:
        key = marker(value)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True


class ValuePools:
    """Every column's values for one verify run, shared by all its row factories and threads.
    A column is known by its table, name and type: the old and the new version share the
    values of a column they both have unchanged, and a changed type gets values of its own."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._pools: dict[tuple[str, str, str], list[Any]] = {}
        self._unique: dict[tuple[str, str, str], UniqueValues] = {}
        self._lock = threading.Lock()

    def pick(
        self, rng: random.Random, table: str, column: str, type_: sqltypes.TypeEngine[Any]
    ) -> Any:
        """A value from the column's pool."""
        return rng.choice(self.pool(table, column, type_))

    def pool(self, table: str, column: str, type_: sqltypes.TypeEngine[Any]) -> list[Any]:
        """The column's pool, drawn on first use (UnsupportedType for a type ec cannot
        generate)."""
        key = (table, column, repr(type_))
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = self._draw_pool(key, type_)
        return pool

    def take_unique(self, table: str, column: str, type_: sqltypes.TypeEngine[Any]) -> Any:
        """A value no caller has had from this column before."""
        key = (table, column, repr(type_))
        with self._lock:
            stream = self._unique.get(key)
            if stream is None:
                strategy = strategy_for(type_, _where(table, column))
                seed = stable_seed(self.seed, "unique", *key)
                stream = self._unique[key] = UniqueValues(strategy, seed, _where(table, column))
        return stream.take()

    def _draw_pool(self, key: tuple[str, str, str], type_: sqltypes.TypeEngine[Any]) -> list[Any]:
        where = _where(key[0], key[1])
        strategy = strategy_for(type_, where)
        try:
            pool = draw(strategy, POOL_SIZE, stable_seed(self.seed, "pool", *key))
        except (Unsatisfiable, InvalidArgument) as exc:  # not expected from strategy_for's
            raise ConfigError(f"cannot generate values for {where}: {exc}") from exc
        return pool


def _where(table: str, column: str) -> str:
    return f"column {table}.{column}"
