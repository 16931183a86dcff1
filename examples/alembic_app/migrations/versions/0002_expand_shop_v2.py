"""expand for app v2: rename users.email, widen orders.amount, add users.status

Runs ec's expand and backfill: afterwards app v1 (table `users`, `orders`) and app v2 (schema
`public_shop_v2`) both read and write, and see each other's rows. Deploy v2 after this revision,
retire v1, then upgrade to 0003.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.expand_contract(
        [
            {"rename_column": {"table": "users", "from": "email", "to": "email_address"}},
            {
                "alter_column": {
                    "table": "orders",
                    "column": "amount",
                    "type": "bigint",
                    "up": "amount::bigint",
                    "down": "amount::integer",
                }
            },
            {
                "add_column": {
                    "table": "users",
                    "column": {
                        "name": "status",
                        "type": "text",
                        "nullable": False,
                        "default": "'active'",
                    },
                    "up": "'active'",
                }
            },
        ],
        name="shop_v2",
    )


def downgrade() -> None:
    op.expand_contract_rollback(name="shop_v2")  # drops what expand added; v1 never noticed
