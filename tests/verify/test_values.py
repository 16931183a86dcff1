"""Generated values: every one is storable in its PostgreSQL type and reads back equal; rows
respect NULLability, unique keys and foreign keys; a seed reproduces the same rows."""

from __future__ import annotations

import decimal
import os
import random
import subprocess
import sys
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    ARRAY,
    CHAR,
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    Interval,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,  # fmt: skip
    Text,
    Time,
    Unicode,
    UniqueConstraint,
    Uuid,
    create_engine,
    insert,
)
from sqlalchemy.dialects.postgresql import JSONB, REAL

from expandcontract.errors import ConfigError
from expandcontract.pytest_plugin import EcDatabase
from expandcontract.verify import pools, values
from expandcontract.verify.compare import same
from expandcontract.verify.seed import RowFactory, UniqueRegistry, server_generated

metadata = MetaData()
KINDS = Table(
    "kinds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("small", SmallInteger),
    Column("big", BigInteger),
    Column("money", Numeric(12, 2)),
    Column("tiny_money", Numeric(3, 3)),
    Column("unbounded", Numeric),
    Column("wide", Numeric(38, 10)),  # beyond decimal's default 28-digit context
    Column("dbl", Float),
    Column("single", REAL),
    Column("name", String(5)),
    Column("body", Text),
    Column("label", Unicode(1)),
    Column("flag", Boolean),
    Column("day", Date),
    Column("at", DateTime),
    Column("at_tz", DateTime(timezone=True)),
    Column("clock", Time),
    Column("span", Interval),
    Column("ref", Uuid),
    Column("blob", LargeBinary),
    Column("doc", JSONB),
    Column("mood", Enum("happy", "sad", name="mood")),
    Column("code", CHAR(4)),
    Column("whole", Numeric(10)),  # numeric(10, 0)
    Column("clock_tz", Time(timezone=True)),
    Column("ref_text", Uuid(as_uuid=False)),
    Column("plain_doc", JSON),
    Column("tags", ARRAY(String(5))),
    Column("scores", ARRAY(BigInteger)),
)
PARENT = Table(
    "parent",
    metadata,
    Column("code", String(3), primary_key=True),
    Column("email", Text, unique=True, nullable=False),
)
CHILD = Table(
    "child",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("parent_code", ForeignKey("parent.code"), nullable=False),
    Column("maybe_parent", ForeignKey("parent.code")),
)


def _pool(type_: Any, seed: int) -> list[Any]:
    """The pool a verify run draws for a column of ``type_``."""
    return pools.draw(values.strategy_for(type_, "a test column"), pools.POOL_SIZE, seed)


def test_every_generated_value_is_stored_and_read_back_unchanged(ec_db: EcDatabase) -> None:
    engine = create_engine(ec_db.sqlalchemy_url)
    columns = [c for c in KINDS.columns if not server_generated(c)]
    try:
        with engine.begin() as conn:
            KINDS.create(conn, checkfirst=True)
        for seed in (0, 1):
            shared = pools.ValuePools(seed)
            drawn = {c.name: shared.pool(KINDS.name, c.name, c.type) for c in columns}
            longest = max(len(v) for v in drawn.values())
            # every drawn value of every column, not a sample of them
            rows = [{name: v[i % len(v)] for name, v in drawn.items()} for i in range(longest)]
            factory = RowFactory(random.Random(seed), UniqueRegistry(), {}, pools=shared)
            rows += [factory.row(KINDS, full=True) for _ in range(50)]
            stmt = insert(KINDS).returning(*columns, sort_by_parameter_order=True)
            with engine.begin() as conn:
                found = conn.execute(stmt, rows).all()
            for row, back in zip(rows, found, strict=True):
                for name, value in row.items():
                    assert same(value, back._mapping[name]), (name, value, back._mapping[name])
    finally:
        engine.dispose()


@given(
    data=st.data(),
    type_=st.sampled_from([String(1), String(5), String(300), Text(), Unicode(2), CHAR(4)]),
)
def test_text_never_holds_nul_or_surrogates_and_respects_length(data: Any, type_: Any) -> None:
    text = data.draw(values.strategy_for(type_, "a test column"))
    assert "\x00" not in text
    assert not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)
    assert len(text) <= (type_.length or values.UNBOUNDED_TEXT)
    assert not isinstance(type_, CHAR) or not text.endswith(" ")


def test_text_reaches_empty_maximal_and_non_ascii_strings() -> None:
    for length in (1, 5, 200):
        drawn = _pool(String(length), seed=length)
        assert "" in drawn
        assert any(len(t) == length for t in drawn)
        assert any(any(ord(ch) > 0x7F for ch in t) for t in drawn)
        assert any(any(ord(ch) > 0xFFFF for ch in t) for t in drawn)  # astral code points


def test_integers_stay_inside_their_type_and_reach_both_ends() -> None:
    for type_ in (SmallInteger(), Integer(), BigInteger()):
        low, high = values.INT_RANGES[values.int_kind(type_)]
        for seed in range(3):
            drawn = _pool(type_, seed)
            assert all(low <= v <= high for v in drawn)
            assert low in drawn and high in drawn


@given(precision=st.integers(1, 30), data=st.data())
def test_numeric_fits_precision_and_scale(precision: int, data: Any) -> None:
    scale = data.draw(st.integers(0, precision))
    value = data.draw(values.strategy_for(Numeric(precision, scale), "a test column"))
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int) and -exponent <= scale
    assert len(digits) + exponent <= max(precision - scale, 1) or value == 0


def test_numeric_reaches_the_widest_value_its_type_holds() -> None:
    for precision, scale in ((12, 2), (3, 3), (5, 0)):
        drawn = _pool(Numeric(precision, scale), seed=precision)
        widest = decimal.Decimal(10**precision - 1).scaleb(-scale)
        assert widest in drawn and -widest in drawn


def test_same_seed_same_rows_and_unique_keys_never_repeat() -> None:
    def rows(seed: int) -> list[dict[str, Any]]:
        factory = RowFactory(random.Random(seed), UniqueRegistry(), {})
        return [factory.row(PARENT) for _ in range(300)]

    first = rows(3)
    assert first == rows(3)
    assert first != rows(4)
    assert len({r["code"] for r in first}) == 300
    assert len({r["email"] for r in first}) == 300
    assert all(r["email"] is not None for r in first)


def test_foreign_keys_point_at_existing_parents_and_nulls_appear_where_allowed() -> None:
    parents = {("parent", "code"): ["a", "b", "c"]}
    factory = RowFactory(random.Random(1), UniqueRegistry(), parents)
    children = [factory.row(CHILD, full=True) for _ in range(200)]
    assert {c["parent_code"] for c in children} <= {"a", "b", "c"}
    assert None not in {c["parent_code"] for c in children}
    assert None in {c["maybe_parent"] for c in children}
    assert "id" not in children[0] and server_generated(CHILD.c.id)


def test_nullable_columns_get_nulls_and_duplicates() -> None:
    factory = RowFactory(random.Random(5), UniqueRegistry(), {})
    rows = [factory.row(KINDS, full=True) for _ in range(300)]
    bodies = [r["body"] for r in rows]
    assert None in bodies
    non_null = [b for b in bodies if b is not None]
    assert len(set(non_null)) < len(non_null)  # repeated values, as real data has


def test_a_type_ec_cannot_generate_is_null_when_nullable_and_a_usage_error_otherwise() -> None:
    from sqlalchemy.dialects.postgresql import TSVECTOR

    md = MetaData()
    docs = Table(
        "docs",
        md,
        Column("id", Integer, primary_key=True),
        Column("search", TSVECTOR),
        Column("strict", TSVECTOR, nullable=False),
    )
    factory = RowFactory(random.Random(0), UniqueRegistry(), {})
    assert all(factory.row(docs, ["search"])["search"] is None for _ in range(20))
    try:
        factory.row(docs, ["strict"])
    except ConfigError as exc:
        assert exc.message.startswith("cannot generate values for column docs.strict")
        assert exc.exit_code == 2
    else:
        raise AssertionError("a NOT NULL tsvector column must be a usage error")


def test_unique_values_never_repeat_across_concurrent_writers() -> None:
    registry, shared = UniqueRegistry(), pools.ValuePools(seed=9)
    emails: list[str] = []

    def write(n: int) -> None:
        factory = RowFactory(random.Random(n), registry, {}, pools=shared)
        emails.extend(factory.row(PARENT)["email"] for _ in range(400))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(emails) == 1600 == len(set(emails))


def test_a_seed_draws_the_same_pools_and_another_seed_other_ones() -> None:
    first = pools.ValuePools(seed=4)
    again = pools.ValuePools(seed=4)
    picks = [first.pick(random.Random(1), "t", "c", Integer()) for _ in range(20)]
    assert picks == [again.pick(random.Random(1), "t", "c", Integer()) for _ in range(20)]
    other = pools.ValuePools(seed=5)
    assert picks != [other.pick(random.Random(1), "t", "c", Integer()) for _ in range(20)]


SAME_ROWS_SCRIPT = """
import random
from sqlalchemy import Column, Integer, MetaData, Numeric, String, Table, Text
from expandcontract.verify.seed import RowFactory, UniqueRegistry
t = Table("t", MetaData(), Column("id", Integer, primary_key=True),
          Column("email", String(20), unique=True), Column("body", Text), Column("n", Numeric))
factory = RowFactory(random.Random(11), UniqueRegistry(), {})
print([factory.row(t, full=True) for _ in range(200)])
"""


def test_a_seed_gives_the_same_rows_in_every_process() -> None:
    # hash() is salted per process (PYTHONHASHSEED): the column seeds must not depend on it
    outputs = {
        subprocess.run(
            [sys.executable, "-c", SAME_ROWS_SCRIPT],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert len(outputs) == 1 and "Decimal(" in outputs.pop()


@given(seed=st.integers(0, 2**32))
@settings(max_examples=3, deadline=None)
def test_rows_are_generated_inside_a_users_own_given_test(seed: int) -> None:
    # hypothesis refuses a @given run nested in another on one thread: the pools draw in a
    # worker thread, so verify_migration works from a user's property-based test
    factory = RowFactory(random.Random(seed), UniqueRegistry(), {})
    rows = [factory.row(PARENT, full=True) for _ in range(30)]
    assert len({r["email"] for r in rows}) == 30
    assert all(isinstance(r["code"], str) and len(r["code"]) <= 3 for r in rows)


def test_a_unique_column_whose_type_runs_out_of_values_is_a_usage_error() -> None:
    md = MetaData()
    flags = Table(
        "flags",
        md,
        Column("id", Integer, primary_key=True),
        Column("flag", Boolean, unique=True, nullable=False),
    )
    factory = RowFactory(random.Random(0), UniqueRegistry(), {})
    assert {factory.row(flags)["flag"] for _ in range(2)} == {False, True}
    with pytest.raises(ConfigError) as raised:
        factory.row(flags)
    assert "column flags.flag" in raised.value.message
    assert "only 2 different values" in raised.value.message
    assert raised.value.exit_code == 2


def test_a_flag_in_a_unique_key_of_several_columns_does_not_run_dry() -> None:
    pairs = Table(
        "pairs",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("owner", Integer, nullable=False),
        Column("main", Boolean, nullable=False),
        UniqueConstraint("owner", "main"),
    )
    factory = RowFactory(random.Random(0), UniqueRegistry(), {})
    rows = [factory.row(pairs, full=True) for _ in range(100)]
    assert len({(r["owner"], r["main"]) for r in rows}) == 100
