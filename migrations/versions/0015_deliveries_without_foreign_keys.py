"""Deliveries lose their two foreign keys (a million-row audience is inserted without row-by-row checks)
and gain an index on subscriber_id (the timeline and a subscriber's deletion look deliveries up by it)
and a partial one on message_id (bounces are tied by the Message-ID they return). Subscriptions'
(list_id, status) index gains subscriber_id, so list members are read from the index alone.

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('subscriptions') as batch:
        batch.create_index('ix_subscriptions_list_status_subscriber', ['list_id', 'status', 'subscriber_id'])
        batch.drop_index('ix_subscriptions_list_status')
    with op.batch_alter_table('deliveries') as batch:
        batch.drop_constraint('fk_deliveries_campaign_id_campaigns', type_='foreignkey')
        batch.drop_constraint('fk_deliveries_subscriber_id_subscribers', type_='foreignkey')
        batch.create_index('ix_deliveries_subscriber_id', ['subscriber_id'])
        batch.create_index('ix_deliveries_message_id', ['message_id'], postgresql_where=sa.text('message_id IS NOT NULL'),
                           sqlite_where=sa.text('message_id IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('subscriptions') as batch:
        batch.create_index('ix_subscriptions_list_status', ['list_id', 'status'])
        batch.drop_index('ix_subscriptions_list_status_subscriber')
    # Rows whose campaign or subscriber is gone would break the constraints: they go first.
    op.execute('DELETE FROM deliveries WHERE campaign_id NOT IN (SELECT id FROM campaigns)')
    op.execute('UPDATE deliveries SET subscriber_id = NULL WHERE subscriber_id NOT IN (SELECT id FROM subscribers)')
    with op.batch_alter_table('deliveries') as batch:
        batch.drop_index('ix_deliveries_message_id')
        batch.drop_index('ix_deliveries_subscriber_id')
        batch.create_foreign_key('fk_deliveries_campaign_id_campaigns', 'campaigns', ['campaign_id'], ['id'],
                                 ondelete='CASCADE')
        batch.create_foreign_key('fk_deliveries_subscriber_id_subscribers', 'subscribers', ['subscriber_id'], ['id'],
                                 ondelete='SET NULL')
