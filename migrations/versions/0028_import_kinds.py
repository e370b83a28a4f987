"""Imports of customer events share the subscribers' import machinery: imports.kind says what a file holds, and
imports.options keeps what only that kind needs (an event import's fixed event name, create_subscriber).

Revision ID: 0028
Revises: 0027
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every import before this one was of subscribers; the defaults say so for the rows there are.
    with op.batch_alter_table('imports', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.Enum('subscribers', 'events', name='importkind', native_enum=False,
                                                      length=20), nullable=False, server_default='subscribers'))
        batch_op.add_column(sa.Column('options', sa.JSON(), nullable=False, server_default='{}'))


def downgrade() -> None:
    # An event import cannot be read as a subscribers' one: it goes, with its files.
    op.execute("DELETE FROM imports WHERE kind = 'events'")
    with op.batch_alter_table('imports', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_column('options')
        batch_op.drop_column('kind')
