"""DKIM keys in their own table: several per domain (rotation, Ed25519 as a second signature).

Each domain's key moves from sending_domains (selector, private_key) into dkim_keys as its
active RSA key. The rows pass through Python rather than INSERT … SELECT: on SQLite, batch mode
rebuilds sending_domains by dropping it, and with foreign keys on that drop would cascade into
dkim_keys. Downgrading keeps each domain's active RSA key; Ed25519, pending and retired keys go.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

KEY_COLUMNS = ('domain_id', 'selector', 'private_key', 'created_at')


def _old_domains() -> sa.TableClause:
    return sa.table('sending_domains', sa.column('id', sa.Integer()), sa.column('selector', sa.String(63)),
                    sa.column('private_key', sa.Text()), sa.column('created_at', sa.DateTime(timezone=True)))


def upgrade() -> None:
    old = _old_domains()
    rows = op.get_bind().execute(sa.select(old.c.id, old.c.selector, old.c.private_key, old.c.created_at)).all()
    with op.batch_alter_table('sending_domains') as batch:
        batch.drop_column('private_key')
        batch.drop_column('selector')
    keys = op.create_table('dkim_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('domain_id', sa.Integer(), nullable=False),
    sa.Column('selector', sa.String(length=63), nullable=False),
    sa.Column('algorithm', sa.String(length=20), nullable=False),
    sa.Column('private_key', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['domain_id'], ['sending_domains.id'], name=op.f('fk_dkim_keys_domain_id_sending_domains'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dkim_keys')),
    sa.UniqueConstraint('domain_id', 'selector', name=op.f('uq_dkim_keys_domain_id'))
    )
    op.bulk_insert(keys, [{**dict(zip(KEY_COLUMNS, row, strict=True)), 'algorithm': 'rsa', 'state': 'active',
                           'activated_at': row.created_at} for row in rows])


def downgrade() -> None:
    keys = sa.table('dkim_keys', sa.column('domain_id', sa.Integer()), sa.column('selector', sa.String(63)),
                    sa.column('private_key', sa.Text()), sa.column('algorithm', sa.String(20)),
                    sa.column('state', sa.String(20)))
    active = op.get_bind().execute(sa.select(keys.c.domain_id, keys.c.selector, keys.c.private_key).where(
        keys.c.algorithm == 'rsa', keys.c.state == 'active')).all()
    op.drop_table('dkim_keys')
    with op.batch_alter_table('sending_domains') as batch:
        batch.add_column(sa.Column('selector', sa.String(length=63), nullable=True))
        batch.add_column(sa.Column('private_key', sa.Text(), nullable=True))
    old = _old_domains()
    for domain_id, selector, private_key in active:
        op.execute(old.update().where(old.c.id == domain_id).values(selector=selector, private_key=private_key))
    with op.batch_alter_table('sending_domains') as batch:
        batch.alter_column('selector', existing_type=sa.String(length=63), nullable=False)
        batch.alter_column('private_key', existing_type=sa.Text(), nullable=False)
