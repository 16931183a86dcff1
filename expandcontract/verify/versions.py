"""The two app versions during a verify: how each connects, checks and writes."""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Engine

from expandcontract.dsn import to_sqlalchemy
from expandcontract.sqlalchemy import bind_version
from expandcontract.verify.base import Reference
from expandcontract.verify.inputs import UserCheck
from expandcontract.verify.pools import ValuePools
from expandcontract.verify.seed import RowFactory, UniqueRegistry
from expandcontract.verify.tracker import Key, Tracker
from expandcontract.verify.workload import Workload, Writer


@dataclasses.dataclass
class AppVersion:
    """``name`` is old or new; ``schema`` the schema it reads and writes (its version schema,
    or the base schema for an app that knows nothing of ec)."""

    name: str
    metadata: MetaData
    schema: str
    base_schema: str
    ledger_schema: str
    reference: Reference
    registry: UniqueRegistry
    pools: ValuePools
    parents: dict[tuple[str, str], list[Any]]
    identity: Callable[[str], str | None]
    unique_key: Callable[[str, tuple[str, ...]], Any]
    check: UserCheck | None = None
    check_name: str = ""

    def engine(self, url: str) -> Engine:
        # a small pool: one connection per statement would dominate the run time; every
        # engine is disposed before its database is cloned or dropped
        base = create_engine(to_sqlalchemy(url), pool_size=2, max_overflow=2)
        if self.schema == self.base_schema and self.base_schema == "public":
            return base  # an app that knows nothing of ec
        return bind_version(
            base, self.schema, base_schema=self.base_schema, ledger_schema=self.ledger_schema
        )

    def writer(self, url: str, tracker: Tracker, seed: int, phase: str) -> Writer:
        factory = RowFactory(
            random.Random(seed), self.registry, self.parents, self.unique_key, self.pools
        )
        return Writer(
            self.name,
            self.metadata,
            self.engine(url),
            factory,
            tracker,
            self.identity,
            self.reference.valid,
            phase=phase,
        )


def run_concurrently(
    writers: list[Writer],
    seeded: dict[str, dict[str, list[Key]]],
    seed: int,
    *,
    rounds: int,
    during: Callable[[], object] | None = None,
) -> BaseException | None:
    """Run the writers' workloads in threads; with ``during``, keep them running while it runs
    in this thread. Returns what ``during`` raised, if anything."""
    stop = threading.Event() if during is not None else None

    def work(writer: Writer, n: int) -> None:
        try:
            Workload(writer, seed + n).run(seeded[writer.version], rounds=rounds, until=stop)
        except Exception as exc:  # a bug in the workload must not hang the walk
            writer.fail("(workload)", f"{type(exc).__name__}: {exc}")

    threads = [
        threading.Thread(target=work, args=(w, i), daemon=True) for i, w in enumerate(writers)
    ]
    for t in threads:
        t.start()
    failure: BaseException | None = None
    if during is not None:
        try:
            during()
        except Exception as exc:
            failure = exc
        finally:
            assert stop is not None
            stop.set()
    for t in threads:
        t.join()
    for w in writers:
        w.engine.dispose()
    return failure
