"""The sending engine: retries with back-off, campaign pacing and quiet hours, several SMTP relays.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries') as batch:
        batch.add_column(sa.Column('retry_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('first_failed_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('campaigns') as batch:
        batch.add_column(sa.Column('rate_per_minute', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('quiet_start', sa.String(length=5), nullable=True))
        batch.add_column(sa.Column('quiet_end', sa.String(length=5), nullable=True))
        batch.add_column(sa.Column('notice', sa.Text(), nullable=True))
    op.create_table('smtp_relays',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('host', sa.String(length=253), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('security', sa.String(length=20), nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('password', sa.Text(), nullable=False),
    sa.Column('max_connections', sa.Integer(), nullable=False),
    sa.Column('weight', sa.Integer(), nullable=False),
    sa.Column('rate_per_second', sa.Integer(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_smtp_relays'))
    )


def downgrade() -> None:
    op.drop_table('smtp_relays')
    with op.batch_alter_table('campaigns') as batch:
        for column in ('notice', 'quiet_end', 'quiet_start', 'rate_per_minute'):
            batch.drop_column(column)
    with op.batch_alter_table('deliveries') as batch:
        batch.drop_column('first_failed_at')
        batch.drop_column('retry_at')
