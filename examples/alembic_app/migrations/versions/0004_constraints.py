"""an index and constraints, written as plain Alembic: ec.safe_ops makes them lock-safe

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # CREATE INDEX CONCURRENTLY, outside the transaction
    op.create_index("orders_user_id_idx", "orders", ["user_id"])
    # ADD CONSTRAINT ... NOT VALID, then VALIDATE in its own transaction
    op.create_check_constraint("orders_amount_nonnegative", "orders", "amount >= 0")
    # a CHECK (email_address IS NOT NULL) NOT VALID, VALIDATE, SET NOT NULL, drop the check
    op.alter_column("users", "email_address", nullable=False, existing_type=sa.String(200))
    # a unique index built concurrently, then ADD CONSTRAINT ... UNIQUE USING INDEX
    op.create_unique_constraint("users_email_address_key", "users", ["email_address"])


def downgrade() -> None:
    op.drop_constraint("users_email_address_key", "users")
    op.alter_column("users", "email_address", nullable=True, existing_type=sa.String(200))
    op.drop_constraint("orders_amount_nonnegative", "orders")
    op.drop_index("orders_user_id_idx", "orders")
