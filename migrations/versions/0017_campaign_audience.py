"""A started campaign's deliveries per receiving domain, counted once (tracking/models.py CampaignAudience).

Nothing to fill in: a running campaign's report counts its audience the first time it needs it.

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('campaign_audience',
                    sa.Column('campaign_id', sa.Integer(), nullable=False),
                    sa.Column('domain', sa.String(length=255), nullable=False),
                    sa.Column('deliveries', sa.BigInteger(), nullable=False),
                    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'],
                                            name=op.f('fk_campaign_audience_campaign_id_campaigns'), ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('campaign_id', 'domain', name=op.f('pk_campaign_audience')))


def downgrade() -> None:
    op.drop_table('campaign_audience')
