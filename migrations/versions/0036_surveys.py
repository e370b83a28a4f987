"""Survey answers: a reader's confirmed answer to a campaign's question, one per question per delivery.

Revision ID: 0036
Revises: 0035
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0036'
down_revision = '0035'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'survey_answers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('delivery_id', sa.Integer(), nullable=False),
        sa.Column('subscriber_id', sa.Integer(), nullable=True),
        sa.Column('question', sa.String(length=40), nullable=False),
        sa.Column('score', sa.Integer(), nullable=False),
        sa.Column('comment', sa.Text(), nullable=False),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'],
                                name=op.f('fk_survey_answers_campaign_id_campaigns'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'],
                                name=op.f('fk_survey_answers_subscriber_id_subscribers'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_answers')),
        sa.UniqueConstraint('delivery_id', 'question', name=op.f('uq_survey_answers_delivery_id')),
    )
    op.create_index('ix_survey_answers_campaign', 'survey_answers', ['campaign_id', 'question'])
    op.create_index(op.f('ix_survey_answers_subscriber_id'), 'survey_answers', ['subscriber_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_survey_answers_subscriber_id'), table_name='survey_answers')
    op.drop_index('ix_survey_answers_campaign', table_name='survey_answers')
    op.drop_table('survey_answers')
