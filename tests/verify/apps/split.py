"""Splitting users.display_name into first_name and last_name, and deriving email_domain from
email (split_name.yaml): the old version (v1) and the new version (v2)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, MetaData, Table, Text

v1 = MetaData()
Table(
    "users",
    v1,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("email", Text, nullable=False, unique=True),
    Column("display_name", Text),
    Column("note", Text),
)

v2 = MetaData()
Table(
    "users",
    v2,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("email", Text, nullable=False, unique=True),
    Column("first_name", Text),
    Column("last_name", Text),
    Column("email_domain", Text),
    Column("note", Text),
)
