"""Generated values: every one is storable in its PostgreSQL type and reads back equal; rows
respect NULLability, unique keys and foreign keys; a seed reproduces the same rows."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
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
    Uuid,
    create_engine,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB, REAL

from expandcontract.pytest_plugin import EcDatabase
from expandcontract.verify import values
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


@given(seed=st.integers(min_value=0, max_value=2**32))
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_every_generated_value_is_stored_and_read_back_unchanged(
    ec_db: EcDatabase, seed: int
) -> None:
    engine = create_engine(ec_db.sqlalchemy_url)
    try:
        with engine.begin() as conn:
            KINDS.create(conn, checkfirst=True)
        factory = RowFactory(random.Random(seed), UniqueRegistry(), {})
        with engine.begin() as conn:
            for _ in range(20):
                row = factory.row(KINDS, full=True)
                key = conn.execute(insert(KINDS).values(row).returning(KINDS.c.id)).scalar_one()
                found = conn.execute(select(KINDS).where(KINDS.c.id == key)).one()._mapping
                for name, value in row.items():
                    assert same(value, found[name]), (name, value, found[name])
    finally:
        engine.dispose()


@given(seed=st.integers(min_value=0, max_value=2**32))
def test_text_never_holds_nul_or_surrogates_and_respects_length(seed: int) -> None:
    rng = random.Random(seed)
    for length in (None, 1, 5, 300):
        text = values.text(rng, length)
        assert "\x00" not in text
        assert not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)
        assert length is None or len(text) <= length


@given(
    seed=st.integers(min_value=0, max_value=2**32), kind=st.sampled_from(list(values.INT_RANGES))
)
def test_integers_stay_inside_their_type_and_reach_its_edges(seed: int, kind: str) -> None:
    rng = random.Random(seed)
    low, high = values.INT_RANGES[kind]
    drawn = [values.integer(rng, kind) for _ in range(200)]
    assert all(low <= v <= high for v in drawn)
    assert low in drawn or high in drawn


@given(seed=st.integers(min_value=0, max_value=2**32),
       precision=st.integers(1, 20), data=st.data())  # fmt: skip
def test_numeric_fits_precision_and_scale(seed: int, precision: int, data: Any) -> None:
    scale = data.draw(st.integers(0, precision))
    value = values.numeric(random.Random(seed), precision, scale)
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int) and -exponent <= scale
    assert len(digits) + exponent <= max(precision - scale, 1) or value == 0


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

    from expandcontract.errors import ConfigError

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
