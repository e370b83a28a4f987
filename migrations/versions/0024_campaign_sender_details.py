"""A campaign keeps the sender's details (名称, postal address, contact) fixed when it is scheduled or started.

The legal footer was filled from each worker's own KAIRAN_COMPANY_NAME, KAIRAN_POSTAL_ADDRESS and
KAIRAN_CONTACT, and only the web machine's were checked: a worker machine without them sent mail with
an empty footer. Fixed on the campaign, every machine sends the same lawful footer. Empty on campaigns
that started before this: they keep taking each machine's settings.

Revision ID: 0024
Revises: 0023
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

COLUMNS = ('sender_name', 'sender_address', 'sender_contact')


def upgrade() -> None:
    with op.batch_alter_table('campaigns') as batch:
        for column in COLUMNS:
            batch.add_column(sa.Column(column, sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('campaigns') as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column)
