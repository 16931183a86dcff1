"""Values for one column, from its SQLAlchemy type, driven by a seeded ``random.Random``.

The same edge cases a hypothesis strategy would hit first — extremes of the integer type,
the widest value a numeric(p, s) holds, empty and maximal strings, non-ASCII text (never NUL
or a surrogate, which PostgreSQL cannot store), calendar edges — but reproducible from
``--seed`` without running hypothesis' engine inside library code.
"""

from __future__ import annotations

import datetime as dt
import decimal
import random
import uuid
from typing import Any

from sqlalchemy import types as sqltypes
from sqlalchemy.dialects import postgresql

from expandcontract.errors import ConfigError

INT_RANGES = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
# Characters that break naive quoting, collation or byte-length assumptions.
TRICKY = ["'", '"', "\\", "%", "_", "é", "ß", "漢", "字", "🎉", "א", "e\u0301", " ", "\t", "\n"]
EDGE_PROBABILITY = 0.25


def int_kind(type_: sqltypes.TypeEngine[Any]) -> str:
    if isinstance(type_, sqltypes.SmallInteger):
        return "smallint"
    if isinstance(type_, sqltypes.BigInteger):
        return "bigint"
    return "integer"


def _char(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.5:
        return chr(rng.randint(0x20, 0x7E))
    if roll < 0.8:
        return rng.choice(TRICKY)
    while True:  # any code point but NUL and the surrogate block
        code = rng.randint(1, 0x10FFFF)
        if not 0xD800 <= code <= 0xDFFF:
            return chr(code)


def text(rng: random.Random, length: int | None) -> str:
    limit = length if length is not None else 40
    if rng.random() < EDGE_PROBABILITY:
        size = rng.choice([0, 1, limit])
    else:
        size = rng.randint(0, min(limit, 24))
    out = ""
    while len(out) < size:
        out += _char(rng)
    return out[:size]


def integer(rng: random.Random, kind: str) -> int:
    low, high = INT_RANGES[kind]
    if rng.random() < EDGE_PROBABILITY:
        return rng.choice([low, high, 0, -1, 1])
    if rng.random() < 0.5:
        return rng.randint(-1000, 1000)
    return rng.randint(low, high)


def numeric(rng: random.Random, precision: int | None, scale: int | None) -> decimal.Decimal:
    scale = 4 if scale is None else scale
    digits = (precision if precision is not None else 18) - scale
    top = 10**digits - 1 if digits > 0 else 0
    quantum = decimal.Decimal(1).scaleb(-scale)
    if rng.random() < EDGE_PROBABILITY:
        whole = rng.choice([top, -top, 0])
        frac = (10**scale - 1) if whole else 0
    else:
        whole = rng.randint(-min(top, 10**6), min(top, 10**6))
        frac = rng.randint(0, 10**scale - 1) if scale else 0
    sign = -1 if whole < 0 else 1
    value = decimal.Decimal(abs(whole)) + decimal.Decimal(frac) * quantum
    return (value * sign).quantize(quantum) if scale else value * sign


def floating(rng: random.Random, single: bool) -> float:
    if rng.random() < EDGE_PROBABILITY:
        return rng.choice([0.0, -1.5, 1e-30, 3.0e38 if single else 1e300])
    value = rng.uniform(-1e6, 1e6)
    # real keeps ~6 significant digits: compare what the database can hold
    return float(f"{value:.6g}") if single else value


def date(rng: random.Random) -> dt.date:
    if rng.random() < EDGE_PROBABILITY:
        return rng.choice([dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(2000, 2, 29)])
    return dt.date(1970, 1, 1) + dt.timedelta(days=rng.randint(-40000, 40000))


def timestamp(rng: random.Random, aware: bool) -> dt.datetime:
    day = date(rng)
    if day.year in (1, 9999):  # keep offsets from leaving the representable range
        day = day.replace(year=2 if day.year == 1 else 9998)
    moment = dt.datetime.combine(day, time(rng))
    return moment.replace(tzinfo=dt.UTC) if aware else moment


def time(rng: random.Random) -> dt.time:
    if rng.random() < EDGE_PROBABILITY:
        return rng.choice([dt.time(0, 0), dt.time(23, 59, 59, 999999)])
    return dt.time(
        rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59), rng.randint(0, 999999)
    )


def interval(rng: random.Random) -> dt.timedelta:
    return dt.timedelta(
        days=rng.randint(-10000, 10000),
        seconds=rng.randint(0, 86399),
        microseconds=rng.randint(0, 999999),
    )


def json_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth < 2 and roll < 0.3:
        return {text(rng, 8): json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    if depth < 2 and roll < 0.45:
        return [json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if roll < 0.6:
        return rng.randint(-(2**31), 2**31)
    if roll < 0.7:
        return rng.choice([True, False, None])
    return text(rng, 12)


def value_for(type_: sqltypes.TypeEngine[Any], rng: random.Random, where: str) -> Any:
    """One value of ``type_``; ConfigError for a type ec cannot generate (with the column)."""
    if isinstance(type_, sqltypes.Interval):  # a TypeDecorator over DateTime elsewhere
        return interval(rng)
    if isinstance(type_, sqltypes.TypeDecorator):
        return value_for(type_.impl_instance, rng, where)
    if isinstance(type_, sqltypes.Boolean):
        return rng.random() < 0.5
    if isinstance(type_, sqltypes.Enum):
        return rng.choice(list(type_.enums))
    if isinstance(type_, sqltypes.Integer):
        return integer(rng, int_kind(type_))
    if isinstance(type_, sqltypes.Float):
        single = isinstance(type_, postgresql.REAL) or (
            type_.precision is not None and type_.precision <= 24
        )
        return floating(rng, single)
    if isinstance(type_, sqltypes.Numeric):
        return numeric(rng, type_.precision, type_.scale)
    if isinstance(type_, sqltypes.String):
        return text(rng, type_.length)
    if isinstance(type_, sqltypes.DateTime):
        return timestamp(rng, bool(type_.timezone))
    if isinstance(type_, sqltypes.Date):
        return date(rng)
    if isinstance(type_, sqltypes.Time):
        return time(rng)
    if isinstance(type_, sqltypes.Interval):
        return interval(rng)
    if isinstance(type_, sqltypes.Uuid):
        value = uuid.UUID(int=rng.getrandbits(128), version=4)
        return value if type_.as_uuid else str(value)
    if isinstance(type_, sqltypes.LargeBinary):
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 16)))
    if isinstance(type_, sqltypes.JSON):
        return json_value(rng)
    if isinstance(type_, sqltypes.ARRAY):
        return [value_for(type_.item_type, rng, where) for _ in range(rng.randint(0, 3))]
    raise ConfigError(
        f"cannot generate values for {where} of type {type_!r}",
        "make the column nullable for verification, or use a standard SQLAlchemy type",
    )
