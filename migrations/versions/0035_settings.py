"""Settings edited in the browser (a value per variable, and a version every process compares with its own), the
setup steps that only an action shows done, and the indexes the home's subscribers-over-time chart reads.

Revision ID: 0035
Revises: 0034
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0035'
down_revision = '0034'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'stored_settings',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_stored_settings')),
    )
    op.create_table(
        'settings_version',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_settings_version')),
    )
    op.execute('INSERT INTO settings_version (id, version) VALUES (1, 0)')
    op.create_table(
        'setup_steps',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('done_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_setup_steps')),
    )

    op.create_index('ix_subscribers_created_at', 'subscribers', ['created_at'])
    op.create_index('ix_consent_records_status_created', 'consent_records', ['status', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_consent_records_status_created', 'consent_records')
    op.drop_index('ix_subscribers_created_at', 'subscribers')
    op.drop_table('setup_steps')
    op.drop_table('settings_version')
    op.drop_table('stored_settings')
