"""A resend to non-openers is a campaign linked to the one it follows up (campaigns.resend_of), with the editor's
choice about recipients only machines opened (resend_machine_openers). At most one resend per campaign.

Revision ID: 0030
Revises: 0029
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A foreign key makes SQLite's batch remake the table: keep its ids never reused (0023).
    with op.batch_alter_table('campaigns', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.add_column(sa.Column('resend_of', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('resend_machine_openers', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.create_foreign_key(op.f('fk_campaigns_resend_of_campaigns'), 'campaigns', ['resend_of'], ['id'],
                                 ondelete='SET NULL')
        batch.create_unique_constraint(op.f('uq_campaigns_resend_of'), ['resend_of'])


def downgrade() -> None:
    with op.batch_alter_table('campaigns', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.drop_constraint(op.f('uq_campaigns_resend_of'), type_='unique')
        batch.drop_constraint(op.f('fk_campaigns_resend_of_campaigns'), type_='foreignkey')
        batch.drop_column('resend_machine_openers')
        batch.drop_column('resend_of')
