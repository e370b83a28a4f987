"""Deliveries keep one index on their subscriber instead of two: the unique (campaign_id, subscriber_id)
and the plain (subscriber_id) become one unique (subscriber_id, campaign_id). It still refuses a second
delivery of a campaign to one subscriber, and still serves the timeline's and the wipe's lookups by
subscriber; a campaign's audience is inserted with one index fewer to write (mailer/queries.py).

Revision ID: 0019
Revises: 0017
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries') as batch:
        batch.create_unique_constraint('uq_deliveries_subscriber_id', ['subscriber_id', 'campaign_id'])
        batch.drop_constraint('uq_deliveries_campaign_id', type_='unique')
        batch.drop_index('ix_deliveries_subscriber_id')


def downgrade() -> None:
    with op.batch_alter_table('deliveries') as batch:
        batch.create_index('ix_deliveries_subscriber_id', ['subscriber_id'])
        batch.create_unique_constraint('uq_deliveries_campaign_id', ['campaign_id', 'subscriber_id'])
        batch.drop_constraint('uq_deliveries_subscriber_id', type_='unique')
