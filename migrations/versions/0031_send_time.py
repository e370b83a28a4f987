"""Send-time optimisation: a campaign may send each recipient's message at the hour they usually open.

The sending window itself needs no column: it is the campaign's quiet hours seen the other way round
(a window of 09:00–20:00 is quiet hours of 20:00–09:00), so one mechanism holds the mail.

Revision ID: 0031
Revises: 0028
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0031'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('campaigns') as batch:
        batch.add_column(sa.Column('send_time_optimised', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('campaigns') as batch:
        batch.drop_column('send_time_optimised')
