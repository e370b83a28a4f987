"""Bounces and complaints, and the inbound mail intake could not read.

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bounces',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=True),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('delivery_id', sa.Integer(), nullable=True),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('sender_refused', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('diagnostic', sa.Text(), nullable=False),
    sa.Column('meta', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_bounces_campaign_id_campaigns'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_bounces_delivery_id_deliveries'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_bounces_subscriber_id_subscribers'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bounces')),
    sa.UniqueConstraint('delivery_id', 'type', name=op.f('uq_bounces_delivery_id'))
    )
    op.create_index('ix_bounces_campaign_type', 'bounces', ['campaign_id', 'type'])
    op.create_index('ix_bounces_email_created', 'bounces', ['email', 'created_at'])
    op.create_index(op.f('ix_bounces_subscriber_id'), 'bounces', ['subscriber_id'])
    op.create_index(op.f('ix_bounces_created_at'), 'bounces', ['created_at'])
    op.create_table('unread_mail',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unread_mail'))
    )


def downgrade() -> None:
    op.drop_table('unread_mail')
    op.drop_table('bounces')
