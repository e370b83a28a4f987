"""An index on deliveries.subscriber_id: a subscriber's timeline (sends, opens, clicks) starts from it.

Revision ID: 0015
Revises: 0014
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_deliveries_subscriber_id', 'deliveries', ['subscriber_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_deliveries_subscriber_id', table_name='deliveries')
