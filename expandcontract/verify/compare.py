"""Equality of a value as written and as read back, modulo what PostgreSQL legitimately does
to it (char padding, real precision, numeric scale, time zone of a timestamptz)."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any


def same(written: Any, read: Any) -> bool:
    if written is None or read is None:
        return written is None and read is None
    if isinstance(written, bool) or isinstance(read, bool):
        return bool(written) == bool(read) and type(written) is type(read)
    if isinstance(written, float) or isinstance(read, float):
        try:
            a, b = float(written), float(read)
        except (TypeError, ValueError):
            return False
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-30)
    if isinstance(written, (int, decimal.Decimal)) and isinstance(read, (int, decimal.Decimal)):
        return decimal.Decimal(written) == decimal.Decimal(read)
    if isinstance(written, str) and isinstance(read, str):
        return written == read or written.rstrip(" ") == read.rstrip(" ")
    if isinstance(written, dt.datetime) and isinstance(read, dt.datetime):
        if (written.tzinfo is None) != (read.tzinfo is None):
            return False
        return written == read
    if isinstance(written, dict) and isinstance(read, dict):
        return written.keys() == read.keys() and all(same(written[k], read[k]) for k in written)
    if isinstance(written, (list, tuple)) and isinstance(read, (list, tuple)):
        return len(written) == len(read) and all(
            same(a, b) for a, b in zip(written, read, strict=True)
        )
    return bool(written == read) or str(written) == str(read)


def show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
