"""Subscriber attributes as jsonb on PostgreSQL (SQLite keeps JSON text).

Revision ID: 0005
Revises: 0004
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE subscribers ALTER COLUMN attribs TYPE jsonb USING attribs::jsonb")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE subscribers ALTER COLUMN attribs TYPE json USING attribs::json")
