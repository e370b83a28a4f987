"""Settings edited in the browser (a value per variable, and a version every process compares with its own), and
the setup steps that only an action shows done.

Revision ID: 0035
Revises: 0032
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0035'
down_revision = '0032'
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


def downgrade() -> None:
    op.drop_table('setup_steps')
    op.drop_table('settings_version')
    op.drop_table('stored_settings')
