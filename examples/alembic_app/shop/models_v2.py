"""The next app version's models: email is now email_address (required and unique), amounts
are bigint (and never negative), every user has a status. Alembic's target_metadata."""

import sqlalchemy as sa

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("email_address", sa.String(200), nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'active'")),
    sa.UniqueConstraint("email_address", name="users_email_address_key"),
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.CheckConstraint("amount >= 0", name="orders_amount_nonnegative"),
    sa.Index("orders_user_id_idx", "user_id"),
)
