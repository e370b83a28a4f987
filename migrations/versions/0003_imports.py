"""CSV imports: file, reading options, mapping, progress.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('path', sa.String(length=1000), nullable=False),
    sa.Column('encoding', sa.String(length=30), nullable=False),
    sa.Column('delimiter', sa.String(length=1), nullable=False),
    sa.Column('mapping', sa.JSON(), nullable=False),
    sa.Column('mode', sa.Enum('subscribe', 'blocklist', 'unsubscribe', name='importmode', native_enum=False, length=20), nullable=False),
    sa.Column('overwrite', sa.Boolean(), nullable=False),
    sa.Column('list_ids', sa.JSON(), nullable=False),
    sa.Column('subscription_status', sa.Enum('unconfirmed', 'confirmed', 'unsubscribed', name='subscriptionstatus', native_enum=False, length=20), nullable=False),
    sa.Column('status', sa.Enum('pending', 'queued', 'importing', 'finished', 'failed', 'cancelled', name='importstatus', native_enum=False, length=20), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('imported', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imports'))
    )


def downgrade() -> None:
    op.drop_table('imports')
