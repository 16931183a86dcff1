"""A new app version that expects ``users.email_addr``; the migration produces email_address."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    MetaData,
    Numeric,
    String,
    Table,
    Text,  # fmt: skip
    Uuid,
    text,
)

from tests.verify.apps import shop_v2

metadata = MetaData()
Table(
    "users",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("email_addr", String(200), nullable=False, unique=True),
    Column("nickname", Text),
    Column("amount", BigInteger),
    Column("created_at", DateTime(timezone=True)),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("ratio", Numeric(10, 2)),
    Column("token", Uuid),
    Column("status", Text, nullable=False, server_default=text("'active'")),
)
shop_v2.Base.metadata.tables["orders"].to_metadata(metadata)
