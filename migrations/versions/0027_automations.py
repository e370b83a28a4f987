"""Automations: their versions, runs (due by next_wake_at), run history and step counts; campaigns that are an
automation's message; a delivery per (subscriber, campaign, run), with the data its message sees.

The deliveries' unique (subscriber_id, campaign_id) gains run_id (0 on every existing row, so it refuses what it
refused before). SQLite rebuilds the table for that: on a large embedded database this takes a while once.

Revision ID: 0027
Revises: 0026
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=20)


def upgrade() -> None:
    op.create_table(
        'automations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('status', _enum('automationstatus', 'draft', 'active', 'paused', 'archived'), nullable=False),
        sa.Column('draft', sa.JSON(), nullable=False),
        sa.Column('version_id', sa.Integer(), nullable=True),
        sa.Column('scanned_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('consent_cursor', sa.BigInteger(), nullable=False),
        sa.Column('event_cursor', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_automations')),
        sqlite_autoincrement=True,
    )
    op.create_table(
        'automation_versions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('automation_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('definition', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['automation_id'], ['automations.id'],
                                name=op.f('fk_automation_versions_automation_id_automations'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_versions')),
        sa.UniqueConstraint('automation_id', 'number', name=op.f('uq_automation_versions_automation_id')),
        sqlite_autoincrement=True,
    )
    op.create_table(
        'automation_runs',
        sa.Column('id', BIG_ID, nullable=False),
        sa.Column('automation_id', sa.Integer(), nullable=False),
        sa.Column('version_id', sa.Integer(), nullable=False),
        sa.Column('subscriber_id', sa.Integer(), nullable=False),
        sa.Column('entry_key', sa.String(length=200), nullable=False),
        sa.Column('state', _enum('runstate', 'waiting', 'converted', 'completed', 'exited', 'failed'), nullable=False),
        sa.Column('step', sa.String(length=40), nullable=False),
        sa.Column('step_entered_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('next_wake_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('waiting_for', sa.String(length=64), nullable=True),
        sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('trigger', sa.JSON(), nullable=False),
        sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['automation_id'], ['automations.id'],
                                name=op.f('fk_automation_runs_automation_id_automations'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['version_id'], ['automation_versions.id'],
                                name=op.f('fk_automation_runs_version_id_automation_versions'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'],
                                name=op.f('fk_automation_runs_subscriber_id_subscribers'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_runs')),
        sa.UniqueConstraint('automation_id', 'subscriber_id', 'entry_key',
                            name=op.f('uq_automation_runs_automation_id')),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_automation_runs_due', 'automation_runs', ['next_wake_at'],
                    postgresql_where=sa.text("state = 'waiting'"), sqlite_where=sa.text("state = 'waiting'"))
    op.create_index('ix_automation_runs_subscriber', 'automation_runs', ['subscriber_id', 'state'])
    op.create_index('ix_automation_runs_version_step', 'automation_runs', ['version_id', 'step', 'state'])
    op.create_table(
        'automation_run_steps',
        sa.Column('id', BIG_ID, nullable=False),
        sa.Column('run_id', BIG_ID, nullable=False),
        sa.Column('step', sa.String(length=40), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('outcome', sa.String(length=40), nullable=False),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['run_id'], ['automation_runs.id'],
                                name=op.f('fk_automation_run_steps_run_id_automation_runs'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_run_steps')),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_automation_run_steps_run', 'automation_run_steps', ['run_id'])
    op.create_index('ix_automation_run_steps_at', 'automation_run_steps', ['at'])
    op.create_table(
        'automation_step_counts',
        sa.Column('version_id', sa.Integer(), nullable=False),
        sa.Column('step', sa.String(length=40), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False)
          for name in ('entered', 'passed', 'sent', 'converted', 'exited', 'failed')),
        sa.ForeignKeyConstraint(['version_id'], ['automation_versions.id'],
                                name=op.f('fk_automation_step_counts_version_id_automation_versions'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('version_id', 'step', name=op.f('pk_automation_step_counts')),
    )
    with op.batch_alter_table('campaigns') as batch:
        batch.add_column(sa.Column('kind', _enum('campaignkind', 'regular', 'automation'), nullable=False,
                                   server_default='regular'))
    with op.batch_alter_table('deliveries') as batch:
        batch.add_column(sa.Column('run_id', sa.BigInteger(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('template_data', sa.JSON(), nullable=True))
        batch.drop_constraint('uq_deliveries_subscriber_id', type_='unique')
        batch.create_unique_constraint('uq_deliveries_subscriber_id', ['subscriber_id', 'campaign_id', 'run_id'])


def downgrade() -> None:
    with op.batch_alter_table('deliveries') as batch:
        batch.drop_constraint('uq_deliveries_subscriber_id', type_='unique')
        batch.create_unique_constraint('uq_deliveries_subscriber_id', ['subscriber_id', 'campaign_id'])
        batch.drop_column('template_data')
        batch.drop_column('run_id')
    with op.batch_alter_table('campaigns') as batch:
        batch.drop_column('kind')
    op.drop_table('automation_step_counts')
    op.drop_table('automation_run_steps')
    op.drop_table('automation_runs')
    op.drop_table('automation_versions')
    op.drop_table('automations')
