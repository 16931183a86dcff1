"""A counter widened from integer to bigint (widen_*.yaml): the old version (v1) and the new
version (v2), which writes every bigint."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, Text

v1 = MetaData()
Table(
    "counters",
    v1,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("amount", Integer),
    Column("label", Text),
)

v2 = MetaData()
Table(
    "counters",
    v2,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("amount", BigInteger),
    Column("label", Text),
)
