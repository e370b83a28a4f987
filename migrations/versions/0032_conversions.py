"""Conversions: customer events (a purchase) attributed to the message whose link a person clicked last, with the
revenue they added in the currency's minor units; and how far attribution has looked through the events.

Revision ID: 0032
Revises: 0031
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'conversions',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('event_id', sa.BigInteger(), nullable=False),
        sa.Column('subscriber_id', sa.Integer(), nullable=True),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('delivery_id', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.BigInteger(), nullable=False),
        sa.Column('via', sa.String(length=10), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=True),
        sa.Column('currency', sa.String(length=3), nullable=True),
        sa.Column('problem', sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_conversions_campaign_id_campaigns'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'],
                                name=op.f('fk_conversions_subscriber_id_subscribers'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_conversions')),
        sa.UniqueConstraint('event_id', name=op.f('uq_conversions_event_id')),
    )
    op.create_index('ix_conversions_campaign_delivery', 'conversions', ['campaign_id', 'delivery_id'])
    op.create_index(op.f('ix_conversions_subscriber_id'), 'conversions', ['subscriber_id'])
    op.create_table(
        'conversion_cursor',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_conversion_cursor')),
    )
    # From the first event: an installation's earlier purchases are attributed as well, as far as clicks go back.
    op.execute('INSERT INTO conversion_cursor (id, event_id) VALUES (1, 0)')


def downgrade() -> None:
    op.drop_table('conversion_cursor')
    op.drop_table('conversions')
