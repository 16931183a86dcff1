"""contract shop_v2, once app v2 is deployed everywhere and v1 is retired

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.expand_contract_complete()  # refuses unless the backfill is verified


def downgrade() -> None:
    raise RuntimeError("a contracted migration cannot be undone: write a new one")
