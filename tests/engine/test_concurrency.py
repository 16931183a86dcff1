"""Both versions write while the backfill runs: nothing lost, nothing overwritten with a stale
value, every row consistent in both versions afterwards. Plus value round trips (hypothesis)."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import threading
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expandcontract.backfill import BackfillSettings
from expandcontract.config import Settings
from expandcontract.engine.api import Engine
from expandcontract.engine.backfill import table_backfill
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import Session, engine, migration

TYPE_CHANGE = {
    "alter_column": {
        "table": "accounts",
        "column": "cents",
        "type": "bigint",
        "up": "cents::bigint * 100",
        "down": "(cents / 100)::integer",
    }
}
ADD = {
    "add_column": {
        "table": "accounts",
        "column": {"name": "tier", "type": "text", "nullable": False, "default": "'basic'"},
        "up": "CASE WHEN cents > 5000 THEN 'gold' ELSE 'basic' END",
    }
}


def test_writes_from_both_versions_during_the_backfill(ec_db: EcDatabase) -> None:
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE accounts (id bigint PRIMARY KEY, cents integer NOT NULL)")
        conn.execute("INSERT INTO accounts SELECT g, g FROM generate_series(1, 20000) g")
        conn.execute("ANALYZE accounts")
    m = migration("cents", TYPE_CHANGE, ADD)
    s = Settings()
    tuning = BackfillSettings(batch_start_rows=200, batch_max_rows=400)
    ec = Engine(ec_db.url, s, backfill=table_backfill(ec_db.url, s, tuning=tuning), sink=None)
    ec.apply(m, through="expand")
    old, new = Session(ec_db.url, None), Session(ec_db.url, m.schema_for("public"))
    stop = threading.Event()
    expected: dict[int, int] = {}  # id -> cents as the old version must see it
    errors: list[BaseException] = []

    def writer(session: Session, parity: int, scale: int, seed: int) -> None:
        rng = random.Random(seed)
        try:
            with session.connect() as conn:
                while not stop.is_set():
                    row_id = rng.randrange(1, 10000) * 2 + parity
                    value = rng.randrange(1, 1_000_000)
                    conn.execute(
                        "UPDATE accounts SET cents = %s WHERE id = %s", (value * scale, row_id)
                    )
                    expected[row_id] = value
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=writer, args=(old, 0, 1, 1)),  # old version: even ids, cents
        threading.Thread(target=writer, args=(new, 1, 100, 2)),  # new version: odd ids, x100
    ]
    for t in threads:
        t.start()
    try:
        ec.apply(m, through="backfill")
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    assert len(expected) > 50, "the writers must have overlapped with the backfill"
    with ec_db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM accounts WHERE _ec_pending").fetchone() == (0,)
        # The twin always equals up(old); tier was filled once for every row.
        bad = conn.execute(
            "SELECT count(*) FROM accounts WHERE _ec_new_cents IS DISTINCT FROM"
            " cents::bigint * 100 OR tier IS NULL"
        ).fetchone()
        assert bad == (0,)
        rows = dict(conn.execute("SELECT id, cents FROM accounts").fetchall())
    for row_id, value in expected.items():
        assert rows[row_id] == value, f"row {row_id}: last write lost or overwritten"
    ec.switch()
    ec.complete()
    final = dict(Session(ec_db.url, None).rows("SELECT id, cents FROM accounts"))
    for row_id, value in expected.items():
        assert final[row_id] == value * 100


_ids = itertools.count(1)


@pytest.fixture
def int_to_bigint(ec_db: EcDatabase) -> tuple[Session, Session]:
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE vals (id int PRIMARY KEY, v integer, t text)")
    m = migration(
        "vals",
        {
            "alter_column": {
                "table": "vals",
                "column": "v",
                "type": "bigint",
                "up": "v::bigint",
                "down": "v::integer",
            }
        },
        {"rename_column": {"table": "vals", "from": "t", "to": "label"}},
        {
            "alter_column": {
                "table": "vals",
                "column": "label",
                "nullable": False,
                "up": "coalesce(t, '∅')",
            }
        },
    )
    engine(ec_db.url).apply(m)
    return Session(ec_db.url, None), Session(ec_db.url, m.schema_for("public"))


_text = st.one_of(
    st.none(),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(v=st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)), t=_text)
def test_values_round_trip_between_versions(
    int_to_bigint: tuple[Session, Session], v: int | None, t: str | None
) -> None:
    old, new = int_to_bigint
    a, b = next(_ids), next(_ids)
    with old.connect() as conn:
        conn.execute("INSERT INTO vals (id, v, t) VALUES (%s, %s, %s)", (a, v, t))
    with new.connect() as conn:
        conn.execute(
            "INSERT INTO vals (id, v, label) VALUES (%s, %s, %s)",
            (b, v, t if t is not None else ""),
        )
        got: Any = conn.execute("SELECT v, label FROM vals WHERE id = %s", (a,)).fetchone()
    assert got == (v, t if t is not None else "∅")
    with old.connect() as conn:
        back = conn.execute("SELECT v, t FROM vals WHERE id = %s", (b,)).fetchone()
    assert back == (v, t if t is not None else "")


@pytest.fixture
def widened_numeric(ec_db: EcDatabase) -> tuple[Session, Session]:
    with ec_db.connect() as conn:
        conn.execute(
            "CREATE TABLE prices (id int PRIMARY KEY, price numeric(10,2), at timestamptz)"
        )
    m = migration(
        "prices",
        {
            "alter_column": {
                "table": "prices",
                "column": "price",
                "type": "numeric(14,4)",
                "up": "price::numeric(14,4)",
                "down": "price::numeric(10,2)",
            }
        },
        {
            "alter_column": {
                "table": "prices",
                "column": "at",
                "type": "timestamp",
                "up": "at AT TIME ZONE 'UTC'",
                "down": "at AT TIME ZONE 'UTC'",
            }
        },
    )
    engine(ec_db.url).apply(m)
    return Session(ec_db.url, None), Session(ec_db.url, m.schema_for("public"))


_prices = st.one_of(
    st.none(),
    st.decimals(
        min_value=Decimal("-99999999.99"),
        max_value=Decimal("99999999.99"),
        places=2,
        allow_nan=False,
        allow_infinity=False,
    ),
)
_moments = st.one_of(
    st.none(),
    st.datetimes(
        min_value=dt.datetime(1, 1, 2),
        max_value=dt.datetime(9999, 12, 30),
        timezones=st.just(dt.UTC),
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(price=_prices, at=_moments)
def test_numeric_and_time_values_round_trip(
    widened_numeric: tuple[Session, Session], price: Decimal | None, at: dt.datetime | None
) -> None:
    old, new = widened_numeric
    a, b = next(_ids), next(_ids)
    naive = None if at is None else at.replace(tzinfo=None)
    with old.connect() as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute("INSERT INTO prices VALUES (%s, %s, %s)", (a, price, at))
    with new.connect() as conn:
        conn.execute("INSERT INTO prices VALUES (%s, %s, %s)", (b, price, naive))
        assert conn.execute("SELECT price, at FROM prices WHERE id = %s", (a,)).fetchone() == (
            price,
            naive,
        )
    with old.connect() as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        assert conn.execute("SELECT price, at FROM prices WHERE id = %s", (b,)).fetchone() == (
            price,
            at,
        )
