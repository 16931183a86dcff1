"""A workload update changes every column it writes: the invariants rely on it (a derived column
must follow a column its source version *changed*; writing the value a column already holds
changes nothing, and ec rightly recomputes nothing then)."""

from __future__ import annotations

import random

from sqlalchemy import create_engine, insert, select

from expandcontract.pytest_plugin import EcDatabase
from expandcontract.verify.compare import same
from expandcontract.verify.seed import RowFactory, UniqueRegistry
from expandcontract.verify.tracker import Tracker
from expandcontract.verify.workload import Workload, Writer
from tests.verify.apps import widen


def test_every_column_an_update_writes_gets_a_value_it_did_not_have(ec_db: EcDatabase) -> None:
    engine = create_engine(ec_db.sqlalchemy_url)
    try:
        widen.v1.create_all(engine)
        counters = widen.v1.tables["counters"]
        with engine.begin() as conn:
            key = conn.execute(insert(counters).values(amount=1, label="a")).inserted_primary_key
        factory = RowFactory(random.Random(0), UniqueRegistry(), {})
        tracker = Tracker()
        writer = Writer("old", widen.v1, engine, factory, tracker, lambda t: t)
        workload = Workload(writer, seed=0)
        for _ in range(60):  # the pools repeat values: without the check, some would repeat
            with engine.connect() as conn:
                before = conn.execute(select(counters)).one()._mapping
            written = workload.update(counters, tuple(key), ["amount", "label"])
            assert written is not None and set(written) == {"amount", "label"}
            assert all(not same(value, before[column]) for column, value in written.items())
        assert not writer.failures, writer.failures
        assert tracker.live()[("counters", tuple(key))].inserted is False
    finally:
        engine.dispose()
