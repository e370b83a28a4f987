"""Customer events: the events table, by subscriber and time and by name and time, keyed once when given.

Revision ID: 0026
Revises: 0025
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'events',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('subscriber_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('properties', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
                  nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('idempotency_key', sa.String(length=200), nullable=True),
        sa.Column('source', sa.Enum('api', 'csv', name='eventsource', native_enum=False, length=20), nullable=False),
        sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_events_subscriber_id_subscribers'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_events')),
        sa.UniqueConstraint('idempotency_key', name=op.f('uq_events_idempotency_key')),
        sqlite_autoincrement=True,  # an event's id is never given again (core.db.NEVER_REUSED_IDS)
    )
    op.create_index('ix_events_subscriber_occurred', 'events', ['subscriber_id', 'occurred_at'])
    op.create_index('ix_events_name_occurred', 'events', ['name', 'occurred_at'])


def downgrade() -> None:
    op.drop_table('events')
