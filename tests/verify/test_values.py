"""Generated values: every one is storable in its PostgreSQL type and reads back equal; rows
respect NULLability, unique keys and foreign keys; a seed reproduces the same rows, and a
200-row draw holds the edge cases hypothesis favours."""

from __future__ import annotations

import decimal
import subprocess
import sys
from typing import Any

import pytest
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

from expandcontract.errors import ConfigError, ECError
from expandcontract.pytest_plugin import EcDatabase
from expandcontract.verify import strategies
from expandcontract.verify.compare import same
from expandcontract.verify.seed import RowFactory, UniqueRegistry, server_generated
from expandcontract.verify.types import INT_RANGES

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


EDGES = Table(
    "edges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("small", SmallInteger),
    Column("medium", Integer, nullable=False),
    Column("big", BigInteger),
    Column("money", Numeric(5, 2)),
    Column("body", Text),
    Column("code", String(4)),
)
GENERATED = [c for c in KINDS.columns if not server_generated(c)]


def rows_of(table: Table, n: int, seed: int, parents: Any = None) -> list[dict[str, Any]]:
    return RowFactory(seed, UniqueRegistry(), parents or {}).rows(table, n)


@given(row=strategies.for_row(GENERATED, {}))
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_every_generated_value_is_stored_and_read_back_unchanged(
    ec_db: EcDatabase, row: dict[str, Any]
) -> None:
    engine = create_engine(ec_db.sqlalchemy_url)
    try:
        with engine.begin() as conn:
            KINDS.create(conn, checkfirst=True)
            key = conn.execute(insert(KINDS).values(row).returning(KINDS.c.id)).scalar_one()
            found = conn.execute(select(KINDS).where(KINDS.c.id == key)).one()._mapping
        for name, value in row.items():
            assert same(value, found[name]), (name, value, found[name])
    finally:
        engine.dispose()


def test_seed_rows_insert_and_read_back_unchanged(ec_db: EcDatabase) -> None:
    rows = rows_of(KINDS, 300, seed=0)
    engine = create_engine(ec_db.sqlalchemy_url)
    try:
        with engine.begin() as conn:
            KINDS.create(conn)
            stmt = insert(KINDS).returning(*KINDS.columns, sort_by_parameter_order=True)
            found = conn.execute(stmt, rows).fetchall()
        for row, back in zip(rows, found, strict=True):
            for name, value in row.items():
                assert same(value, back._mapping[name]), (name, value, back._mapping[name])
    finally:
        engine.dispose()


@given(length=st.none() | st.integers(1, 300), data=st.data())
def test_text_never_holds_nul_or_surrogates_and_respects_length(
    length: int | None, data: st.DataObject
) -> None:
    text = data.draw(strategies.text(length))
    assert "\x00" not in text
    assert not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)
    assert length is None or len(text) <= length


@given(type_=st.sampled_from([SmallInteger(), Integer(), BigInteger()]), data=st.data())
def test_integers_stay_inside_their_type(type_: Any, data: st.DataObject) -> None:
    low, high = INT_RANGES[str(type_).lower()]
    assert low <= data.draw(strategies.integers(type_)) <= high


@given(precision=st.integers(1, 20), data=st.data())
def test_numeric_fits_precision_and_scale(precision: int, data: st.DataObject) -> None:
    scale = data.draw(st.integers(0, precision))
    value = data.draw(strategies.numeric(precision, scale))
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int) and -exponent <= scale
    assert len(digits) + exponent <= max(precision - scale, 1) or value == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_200_row_draw_holds_extremes_nulls_and_non_ascii(seed: int) -> None:
    rows = rows_of(EDGES, 200, seed)

    def seen(column: str) -> list[Any]:
        return [r[column] for r in rows]

    for column, kind in (("small", "smallint"), ("medium", "integer"), ("big", "bigint")):
        low, high = INT_RANGES[kind]
        assert {low, high} & set(seen(column)), column
    assert {decimal.Decimal("999.99"), decimal.Decimal("-999.99")} & set(seen("money"))
    assert None in seen("small") and None in seen("body")
    assert None not in seen("medium")  # NOT NULL
    assert "" in seen("body")
    assert any(b and any(ord(ch) > 127 for ch in b) for b in seen("body"))
    assert any(c and len(c) == 4 for c in seen("code"))  # a full varchar(4)


def test_same_seed_same_rows_other_seed_other_rows_and_unique_keys_never_repeat() -> None:
    first = rows_of(PARENT, 300, seed=3)
    assert first == rows_of(PARENT, 300, seed=3)
    assert first != rows_of(PARENT, 300, seed=4)
    assert len({r["code"] for r in first}) == 300
    assert len({r["email"] for r in first}) == 300
    assert all(r["email"] is not None for r in first)


def test_foreign_keys_point_at_existing_parents_and_nulls_appear_where_allowed() -> None:
    children = rows_of(CHILD, 200, seed=1, parents={("parent", "code"): ["a", "b", "c"]})
    assert {c["parent_code"] for c in children} == {"a", "b", "c"}
    assert {c["maybe_parent"] for c in children} == {None, "a", "b", "c"}
    assert "id" not in children[0] and server_generated(CHILD.c.id)


def test_nullable_columns_get_nulls_and_duplicates() -> None:
    bodies = [r["body"] for r in rows_of(KINDS, 300, seed=5)]
    assert None in bodies
    non_null = [b for b in bodies if b is not None]
    assert len(set(non_null)) < len(non_null)  # repeated values, as real data has


def test_columns_with_defaults_are_sometimes_left_to_the_default() -> None:
    md = MetaData()
    notes = Table(
        "notes",
        md,
        Column("id", Integer, primary_key=True),
        Column("body", Text, nullable=False),
        Column("lang", Text, nullable=False, server_default="en"),
    )
    factory = RowFactory(0, UniqueRegistry(), {})
    inserts = [factory.row(notes) for _ in range(100)]
    assert any("lang" not in r for r in inserts) and any("lang" in r for r in inserts)
    assert all("lang" in r for r in factory.rows(notes, 50))  # seeding: one shape
    assert all(set(factory.row(notes, ["body"])) == {"body"} for _ in range(10))


def test_a_unique_column_with_too_few_values_is_a_clear_error() -> None:
    md = MetaData()
    flags = Table(
        "flags",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("on", Boolean, nullable=False, unique=True),
    )
    factory = RowFactory(0, UniqueRegistry(), {})
    assert {r["on"] for r in factory.rows(flags, 2)} == {True, False}
    with pytest.raises(
        ECError, match=r"cannot generate another row for flags with a unique \(on\)"
    ):
        factory.row(flags, full=True)


def test_a_type_ec_cannot_generate_is_null_when_nullable_and_a_usage_error_otherwise() -> None:
    from sqlalchemy.dialects.postgresql import TSVECTOR

    md = MetaData()
    docs = Table("docs", md, Column("id", Integer, primary_key=True), Column("search", TSVECTOR))
    assert all(r["search"] is None for r in rows_of(docs, 20, seed=0))
    strict = Table("strict", md, Column("id", Integer, primary_key=True),
                   Column("search", TSVECTOR, nullable=False))  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        rows_of(strict, 1, seed=0)
    assert caught.value.message.startswith("cannot generate values for column strict.search")
    assert caught.value.exit_code == 2


def test_importing_the_cli_does_not_import_hypothesis() -> None:
    code = "import sys, expandcontract.cli; print('hypothesis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
