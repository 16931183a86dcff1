"""The new app version after shop_good.yaml, as a declarative Base."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

from sqlalchemy import BigInteger, DateTime, ForeignKey, Numeric, String, Text, Unicode, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    email_address: Mapped[str] = mapped_column(String(200), unique=True)
    nickname: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    ratio: Mapped[decimal.Decimal | None] = mapped_column(Numeric(10, 2))
    token: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(Text, server_default=text("'active'"))


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Unicode(50))
    day: Mapped[dt.date | None]
