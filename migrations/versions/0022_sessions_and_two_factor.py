"""Users get a session token (part of each session's id, so logging out or changing the password ends
sessions kept in the browser's signed cookie) and two-factor login: a TOTP secret and recovery codes.

Existing users get a token each; the sessions they hold carry none and end, so everyone logs in again.

Revision ID: 0022
Revises: 0021
"""
import secrets

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('session_token', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('totp_secret', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('two_factor_since', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=True))
    bind = op.get_bind()
    for (user_id,) in bind.execute(sa.text('SELECT id FROM users')).all():
        bind.execute(sa.text('UPDATE users SET session_token = :token WHERE id = :id'),
                     {'token': secrets.token_urlsafe(24), 'id': user_id})
    with op.batch_alter_table('users') as batch:
        batch.alter_column('session_token', existing_type=sa.String(length=32), nullable=False)
    op.create_table(
        'recovery_codes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name='fk_recovery_codes_user_id_users',
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name='pk_recovery_codes'),
    )
    op.create_index('ix_recovery_codes_user_id', 'recovery_codes', ['user_id'])


def downgrade() -> None:
    op.drop_index('ix_recovery_codes_user_id', table_name='recovery_codes')
    op.drop_table('recovery_codes')
    with op.batch_alter_table('users') as batch:
        for column in ('totp_last_step', 'two_factor_since', 'totp_secret', 'session_token'):
            batch.drop_column(column)
