"""memos.body is dropped (drop_body.yaml); the old version requires it, the new one does not
know it: the old version (v1) and the new version (v2)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, MetaData, Table, Text

v1 = MetaData()
Table(
    "memos",
    v1,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("body", Text, nullable=False),
    Column("title", Text),
)

v2 = MetaData()
Table(
    "memos",
    v2,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("title", Text),
)
