"""Send-time optimisation: a campaign may send each recipient's message at the hour they usually open.

Each reader's hour is read from their opens and clicks through ix_tracking_events_delivery_kind, which now holds
human and at too, so that reading never visits the table (a million readers' events, in the order of the index).

The sending window itself needs no column: it is the campaign's quiet hours seen the other way round
(a window of 09:00–20:00 is quiet hours of 20:00–09:00), so one mechanism holds the mail.

Revision ID: 0031
Revises: 0030
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: SQLite's batch mode would copy the table and lose its AUTOINCREMENT (0023).
    op.add_column('campaigns', sa.Column('send_time_optimised', sa.Boolean(), nullable=False,
                                         server_default=sa.false()))
    op.drop_index('ix_tracking_events_delivery_kind', table_name='tracking_events')
    op.create_index('ix_tracking_events_delivery_kind', 'tracking_events', ['delivery_id', 'kind', 'human', 'at'])


def downgrade() -> None:
    op.drop_index('ix_tracking_events_delivery_kind', table_name='tracking_events')
    op.create_index('ix_tracking_events_delivery_kind', 'tracking_events', ['delivery_id', 'kind'])
    # SQLite drops a column in place since 3.35, keeping AUTOINCREMENT.
    op.drop_column('campaigns', 'send_time_optimised')
