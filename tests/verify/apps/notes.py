"""A small app whose schema is built by an earlier ec migration (``--history``)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Identity, Integer, MetaData, Table, Text, text

v1 = MetaData()
Table(
    "notes",
    v1,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("body", Text),
    Column("score", Integer, nullable=False, server_default=text("0")),
)

v2 = MetaData()
Table(
    "notes",
    v2,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("content", Text),
    Column("score", Integer, nullable=False, server_default=text("0")),
)
