"""Hypothesis strategies for one column, derived from its SQLAlchemy type.

Each strategy draws only values PostgreSQL stores and gives back unchanged (``compare.same``):
text never holds NUL or a surrogate, numbers are never NaN or infinite, timestamps stay a year
inside Python's range. Hypothesis brings the edge cases — empty strings, quotes, combining
marks, astral code points, zero and signed extremes. The extremes a column *must* hold (both
ends of an integer type, the widest ``numeric(p, s)``, a maximal string, calendar edges) are
mixed in on top, one draw in ``EDGE_ONE_IN``, because hypothesis alone reaches them only now
and then. ``verify.pools`` runs the strategies; nothing here draws a value.
"""

from __future__ import annotations

import datetime as dt
import decimal
import sys
from typing import Any

from hypothesis import strategies as st
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects import postgresql

from expandcontract.errors import ConfigError

INT_RANGES = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
FLOAT32_RANGE = (3.4028234663852886e38, 1.1754943508222875e-38)  # largest, smallest normal
UNBOUNDED_NUMERIC = (18, 4)  # precision and scale drawn for a bare ``numeric``
UNBOUNDED_TEXT = 40  # longest string drawn for ``text`` or an unbounded ``varchar``
EDGE_ONE_IN = 5
# A timestamptz is read back in the session's time zone: a year away from Python's limits, no
# offset can push it out of range. Naive timestamps keep the same range, so a type change from
# timestamp to timestamptz cannot either.
TIMESTAMP_MIN = dt.datetime(2, 1, 1)
TIMESTAMP_MAX = dt.datetime(9998, 12, 31, 23, 59, 59, 999999)
INTERVAL_LIMIT = dt.timedelta(days=10000)
# PostgreSQL's UTF-8 cannot hold NUL, and a surrogate is not a character in any encoding.
CHARACTERS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")


class UnsupportedType(ConfigError):
    """ec has no strategy for a column's type (a usage error when the column is NOT NULL)."""


def int_kind(type_: sqltypes.TypeEngine[Any]) -> str:
    if isinstance(type_, sqltypes.SmallInteger):
        return "smallint"
    if isinstance(type_, sqltypes.BigInteger):
        return "bigint"
    return "integer"


def with_edges(
    base: st.SearchStrategy[Any], edges: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """``base``, and one draw in EDGE_ONE_IN from ``edges`` (``one_of`` would give edges half
    of all draws, leaving too little variety)."""
    return st.integers(1, EDGE_ONE_IN).flatmap(lambda roll: edges if roll == 1 else base)


def integers(kind: str) -> st.SearchStrategy[int]:
    low, high = INT_RANGES[kind]
    return with_edges(st.integers(low, high), st.sampled_from([low, high, 0, -1, 1]))


def numerics(precision: int | None, scale: int | None) -> st.SearchStrategy[decimal.Decimal]:
    if precision is None:
        precision, default_scale = UNBOUNDED_NUMERIC
        scale = default_scale if scale is None else scale
    elif scale is None:
        scale = 0  # numeric(p) is numeric(p, 0): more places would be rounded away
    # from a string: exact at any precision (arithmetic rounds to the context's 28 digits)
    widest = decimal.Decimal(f"{10**precision - 1}E-{scale}")
    zero = decimal.Decimal(f"0E-{scale}")
    lowest = widest.copy_negate()  # exact, unlike unary minus
    base = st.decimals(lowest, widest, places=scale, allow_nan=False, allow_infinity=False)
    # -0 and 0 are one value to a unique index: draw only the latter
    return with_edges(base, st.sampled_from([widest, lowest, zero])).map(
        lambda value: value.copy_abs() if value.is_zero() else value
    )


def floats(single: bool) -> st.SearchStrategy[float]:
    largest, tiniest = FLOAT32_RANGE if single else (sys.float_info.max, sys.float_info.min)
    base = st.floats(allow_nan=False, allow_infinity=False, width=64)
    if single:  # only values a real holds exactly
        base = st.floats(allow_nan=False, allow_infinity=False, width=32)
    edges = st.sampled_from([largest, -largest, tiniest, -1.5])
    # + 0.0 turns -0.0 into 0.0: one value to a unique index
    return with_edges(base, edges).map(lambda value: value + 0.0)


def texts(length: int | None, *, padded: bool = False) -> st.SearchStrategy[str]:
    limit = length if length is not None else UNBOUNDED_TEXT
    # a maximal string repeats a short drawn one: as tricky as any, and cheap for any length
    maximal = st.text(CHARACTERS, min_size=1, max_size=8).map(lambda s: (s * limit)[:limit])
    strategy = with_edges(st.text(CHARACTERS, max_size=limit), maximal)
    if padded:  # char(n) pads with spaces: 'a' and 'a ' are one value to it
        strategy = strategy.map(lambda s: s.rstrip(" "))
    return strategy


def dates() -> st.SearchStrategy[dt.date]:
    edges = [dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(2000, 2, 29)]
    return with_edges(st.dates(), st.sampled_from(edges))


def timestamps(aware: bool) -> st.SearchStrategy[dt.datetime]:
    zone = dt.UTC if aware else None
    edges = [TIMESTAMP_MIN, TIMESTAMP_MAX, dt.datetime(2000, 2, 29, 12)]
    base = st.datetimes(
        TIMESTAMP_MIN, TIMESTAMP_MAX, timezones=st.just(dt.UTC) if aware else st.none()
    )
    return with_edges(base, st.sampled_from([e.replace(tzinfo=zone) for e in edges]))


def times(aware: bool) -> st.SearchStrategy[dt.time]:
    zone = dt.UTC if aware else None
    edges = [dt.time(0, 0, tzinfo=zone), dt.time(23, 59, 59, 999999, tzinfo=zone)]
    base = st.times(timezones=st.just(dt.UTC) if aware else st.none())
    return with_edges(base, st.sampled_from(edges))


def json_values() -> st.SearchStrategy[Any]:
    # no floats (jsonb keeps numbers as numeric: 0.1 + 0.2 comes back spelled differently);
    # no NUL in strings or keys (jsonb rejects \u0000)
    text = st.text(CHARACTERS, max_size=12)
    leaves = st.none() | st.booleans() | st.integers(-(2**31), 2**31) | text
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(CHARACTERS, max_size=8), inner, max_size=3)
        ),
        max_leaves=6,
    )


def strategy_for(type_: sqltypes.TypeEngine[Any], where: str) -> st.SearchStrategy[Any]:
    """Values of ``type_``; UnsupportedType for a type ec cannot generate (naming ``where``)."""
    if isinstance(type_, (sqltypes.Interval, postgresql.INTERVAL)):  # Interval: a TypeDecorator
        return st.timedeltas(-INTERVAL_LIMIT, INTERVAL_LIMIT)
    if isinstance(type_, sqltypes.TypeDecorator):
        return strategy_for(type_.impl_instance, where)
    if isinstance(type_, sqltypes.Boolean):
        return st.booleans()
    if isinstance(type_, sqltypes.Enum) and type_.enums:  # before String: Enum is one
        return st.sampled_from(list(type_.enums))
    if isinstance(type_, sqltypes.Integer):
        return integers(int_kind(type_))
    if isinstance(type_, sqltypes.Float):  # before Numeric: Float is one
        single = isinstance(type_, sqltypes.REAL) or (
            type_.precision is not None and type_.precision <= 24
        )
        return floats(single)
    if isinstance(type_, sqltypes.Numeric):
        return numerics(type_.precision, type_.scale)
    if isinstance(type_, sqltypes.String) and not isinstance(type_, sqltypes.Enum):
        return texts(type_.length, padded=isinstance(type_, sqltypes.CHAR))
    if isinstance(type_, sqltypes.DateTime):
        return timestamps(bool(type_.timezone))
    if isinstance(type_, sqltypes.Date):
        return dates()
    if isinstance(type_, sqltypes.Time):
        return times(bool(type_.timezone))
    if isinstance(type_, sqltypes.Uuid):
        return st.uuids() if type_.as_uuid else st.uuids().map(str)
    if isinstance(type_, sqltypes.LargeBinary):
        return st.binary(max_size=16)
    if isinstance(type_, sqltypes.JSON):
        return json_values()
    if isinstance(type_, sqltypes.ARRAY):
        return st.lists(strategy_for(type_.item_type, where), max_size=3)
    raise UnsupportedType(
        f"cannot generate values for {where} of type {type_!r}",
        "make the column nullable for verification, or use a standard SQLAlchemy type",
    )
