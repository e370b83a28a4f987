"""Sending domains with their DKIM keys.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sending_domains',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('domain', sa.String(length=253), nullable=False),
    sa.Column('selector', sa.String(length=63), nullable=False),
    sa.Column('private_key', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sending_domains')),
    sa.UniqueConstraint('domain', name=op.f('uq_sending_domains_domain'))
    )


def downgrade() -> None:
    op.drop_table('sending_domains')
