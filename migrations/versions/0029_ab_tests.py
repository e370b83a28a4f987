"""A/B tests: a campaign's test (share, wait, measure, winner) and its variants; each delivery's variant.

deliveries.variant is added with a default (0: no A/B test), which neither database rewrites the table for.

Revision ID: 0029
Revises: 0028
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=20)


CONTENT_TYPES = ('visual', 'richtext', 'html', 'markdown', 'plain')


def upgrade() -> None:
    op.create_table(
        'ab_tests',
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('test_share', sa.Integer(), nullable=False),
        sa.Column('wait_hours', sa.Integer(), nullable=False),
        sa.Column('measure', _enum('winnermeasure', 'opens', 'clicks', 'conversions'), nullable=False),
        sa.Column('manual', sa.Boolean(), nullable=False),
        sa.Column('key_a', sa.BigInteger(), nullable=False),
        sa.Column('key_b', sa.BigInteger(), nullable=False),
        sa.Column('decide_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('winner', sa.Integer(), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decided_by', sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_ab_tests_campaign_id_campaigns'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('campaign_id', name=op.f('pk_ab_tests')),
    )
    op.create_table(
        'campaign_variants',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('subject', sa.String(length=500), nullable=True),
        sa.Column('from_name', sa.String(length=200), nullable=True),
        sa.Column('preheader', sa.String(length=300), nullable=True),
        sa.Column('content_type', _enum('contenttype', *CONTENT_TYPES), nullable=True),
        sa.Column('body', sa.Text(), nullable=True),
        sa.Column('body_source', sa.JSON(), nullable=True),
        sa.Column('altbody', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['campaign_id'], ['ab_tests.campaign_id'],
                                name=op.f('fk_campaign_variants_campaign_id_ab_tests'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_variants')),
        sa.UniqueConstraint('campaign_id', 'position', name=op.f('uq_campaign_variants_campaign_id')),
    )
    op.add_column('deliveries', sa.Column('variant', sa.SmallInteger(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('deliveries') as batch_op:
        batch_op.drop_column('variant')
    op.drop_table('campaign_variants')
    op.drop_table('ab_tests')
