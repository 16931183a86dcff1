"""Hypothesis strategies derived from an app version's SQLAlchemy columns: one per type, within
what PostgreSQL stores and reads back unchanged, NULL where the column is nullable, and one
``fixed_dictionaries`` row strategy per table.

Hypothesis draws boundaries, empty values and NULLs early and often; that is why it generates
the rows. Importing this module imports hypothesis, so only the verifier imports it.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import strategies as st
from sqlalchemy import Column
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects import postgresql

from expandcontract.errors import ConfigError
from expandcontract.verify.types import INT_RANGES, int_kind

Strategy = st.SearchStrategy[Any]

# PostgreSQL cannot store NUL in text, and UTF-8 has no surrogates
CHARACTERS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
UNBOUNDED_NUMERIC = (28, 4)  # precision, scale drawn for a plain ``numeric``
MAX_FULL_LENGTH = 1000  # longer varchar(n) are not drawn at exactly n characters
MAX_ARRAY_ITEMS = 4
# timestamptz is read back in the session's time zone: a day's margin keeps Python's year
# 1..9999 range from overflowing on the way back
AWARE_MIN = dt.datetime(1, 1, 2)
AWARE_MAX = dt.datetime(9999, 12, 30)
OFFSETS = [dt.UTC, *(dt.timezone(dt.timedelta(minutes=m)) for m in (330, -480, 840, -720))]
JSON_INT = 2**63
RARE = 4  # a NULL, or a type's own boundary: about one value in four


def sometimes(common: Strategy, rare: Strategy) -> Strategy:
    """``common``, and ``rare`` about once in ``RARE`` draws (``one_of`` picks its branches
    alike, so ``st.none() | values`` would be NULL half the time). Hypothesis alone reaches a
    bigint's exact boundary in only ~70% of 200-row draws, and an overflow at the boundary is
    what a narrowing migration breaks."""
    return st.one_of(*[common] * (RARE - 1), rare)


def text(length: int | None) -> Strategy:
    """Text of at most ``length`` characters, sometimes exactly ``length``: a full column
    is the edge a narrowing breaks."""
    anything = st.text(CHARACTERS, max_size=length)
    if length is None or length > MAX_FULL_LENGTH:
        return anything
    return sometimes(anything, st.text(CHARACTERS, min_size=length, max_size=length))


def integers(type_: sqltypes.TypeEngine[Any]) -> Strategy:
    low, high = INT_RANGES[int_kind(type_)]
    return sometimes(st.integers(low, high), st.sampled_from((low, high)))


def numeric(precision: int | None, scale: int | None) -> Strategy:
    """Every value a numeric(p, s) holds, up to the widest: 10^(p-s) - 10^-s."""
    if precision is None:
        precision, default_scale = UNBOUNDED_NUMERIC
        scale = default_scale if scale is None else scale
    scale = scale or 0
    top = decimal.Decimal(10**precision - 1).scaleb(-scale)
    values = st.decimals(-top, top, places=scale, allow_nan=False, allow_infinity=False)
    return sometimes(values, st.sampled_from((-top, top)))


def floats(type_: sqltypes.Float[Any]) -> Strategy:
    single = isinstance(type_, postgresql.REAL) or (
        type_.precision is not None and type_.precision <= 24
    )
    # real values must be float32 values: a double PostgreSQL narrows to 0 is an underflow
    return st.floats(width=32 if single else 64, allow_nan=False, allow_infinity=False)


def timestamps(aware: bool) -> Strategy:
    if not aware:
        return st.datetimes()
    return st.datetimes(AWARE_MIN, AWARE_MAX, timezones=st.sampled_from(OFFSETS))


def json_values() -> Strategy:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-JSON_INT, JSON_INT)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(CHARACTERS)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(CHARACTERS), inner, max_size=4)
        ),
        max_leaves=8,
    )


def for_type(type_: sqltypes.TypeEngine[Any], where: str) -> Strategy:
    """The strategy for ``type_``; ConfigError for a type ec cannot generate (naming
    ``where``, the column)."""
    if isinstance(type_, sqltypes.Interval):  # a TypeDecorator over DateTime elsewhere
        return st.timedeltas()
    if isinstance(type_, sqltypes.TypeDecorator):
        return for_type(type_.impl_instance, where)
    if isinstance(type_, sqltypes.Boolean):
        return st.booleans()
    if isinstance(type_, sqltypes.Enum):
        return st.sampled_from(list(type_.enums))
    if isinstance(type_, sqltypes.Integer):
        return integers(type_)
    if isinstance(type_, sqltypes.Float):
        return floats(type_)
    if isinstance(type_, sqltypes.Numeric):
        return numeric(type_.precision, type_.scale)
    if isinstance(type_, sqltypes.String):
        return text(type_.length)
    if isinstance(type_, sqltypes.DateTime):
        return timestamps(bool(type_.timezone))
    if isinstance(type_, sqltypes.Date):
        return st.dates()
    if isinstance(type_, sqltypes.Time):
        return st.times()
    if isinstance(type_, sqltypes.Uuid):
        uuids = st.uuids()
        return uuids if type_.as_uuid else uuids.map(str)
    if isinstance(type_, sqltypes.LargeBinary):
        return st.binary(max_size=type_.length)
    if isinstance(type_, sqltypes.JSON):
        return json_values()
    if isinstance(type_, sqltypes.ARRAY):
        return st.lists(for_type(type_.item_type, where), max_size=MAX_ARRAY_ITEMS)
    raise ConfigError(
        f"cannot generate values for {where} of type {type_!r}",
        "make the column nullable for verification, or use a standard SQLAlchemy type",
    )


def for_column(column: Column[Any], parent_keys: Sequence[Any] | None = None) -> Strategy:
    """Values for ``column``: a foreign key takes one of ``parent_keys`` (the parents'
    seeded values); NULL is drawn too where the column is nullable."""
    nullable = bool(column.nullable) and not column.primary_key
    if parent_keys is not None:
        if not parent_keys:
            return st.none()  # no parent yet: only NULL can be consistent
        keys = st.sampled_from(parent_keys)
        return sometimes(keys, st.none()) if nullable else keys
    try:
        values = for_type(column.type, f"column {column.table.name}.{column.name}")
    except ConfigError:
        if nullable:
            return st.none()  # a type ec cannot generate: NULL is still a value the app writes
        raise
    return sometimes(values, st.none()) if nullable else values


def for_row(
    columns: Sequence[Column[Any]],
    parent_keys: Mapping[str, Sequence[Any]],
    optional: Sequence[Column[Any]] = (),
) -> Strategy:
    """Rows as dictionaries: every one of ``columns``, and any of ``optional``
    (columns with a default: an omitted one exercises the default). ``parent_keys`` maps a
    foreign-key column's name to the keys it may take."""

    def strategy(column: Column[Any]) -> Strategy:
        return for_column(column, parent_keys.get(column.name))

    return st.fixed_dictionaries(
        {c.name: strategy(c) for c in columns},
        optional={c.name: strategy(c) for c in optional},
    )
