"""Opens and clicks: the tracking_events table, and each delivery's first human open and click.

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries') as batch:
        batch.add_column(sa.Column('first_open_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('first_click_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('tracking_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('stream_id', sa.String(length=41), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=True),
    sa.Column('link_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_agent', sa.Text(), nullable=True),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('head', sa.Boolean(), nullable=False),
    sa.Column('prefetch', sa.Boolean(), nullable=False),
    sa.Column('client', sa.String(length=100), nullable=True),
    sa.Column('device', sa.String(length=100), nullable=True),
    sa.Column('human', sa.Boolean(), nullable=False),
    sa.Column('rule', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_tracking_events_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_tracking_events_delivery_id_deliveries'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['link_id'], ['links.id'], name=op.f('fk_tracking_events_link_id_links'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tracking_events')),
    sa.UniqueConstraint('stream_id', name=op.f('uq_tracking_events_stream_id'))
    )
    op.create_index('ix_tracking_events_campaign_kind_at', 'tracking_events', ['campaign_id', 'kind', 'at'])
    op.create_index('ix_tracking_events_delivery_kind', 'tracking_events', ['delivery_id', 'kind'])
    op.create_index(op.f('ix_tracking_events_link_id'), 'tracking_events', ['link_id'])


def downgrade() -> None:
    op.drop_table('tracking_events')
    with op.batch_alter_table('deliveries') as batch:
        batch.drop_column('first_click_at')
        batch.drop_column('first_open_at')
