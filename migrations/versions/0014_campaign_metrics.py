"""Campaign metrics: each delivery's unsubscribe from its message, and the indexes the report reads.

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries') as batch:
        batch.add_column(sa.Column('unsubscribed_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_tracking_events_campaign_kind_human_at', 'tracking_events',
                    ['campaign_id', 'kind', 'human', 'at'])


def downgrade() -> None:
    op.drop_index('ix_tracking_events_campaign_kind_human_at', table_name='tracking_events')
    with op.batch_alter_table('deliveries') as batch:
        batch.drop_column('unsubscribed_at')
