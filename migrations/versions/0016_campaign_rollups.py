"""Campaign rollups: the counters the report reads (tracking/rollups.py), each delivery's receiving domain,
the indexes that count deliveries by status and domain, and unsubscribes, without reading rows, and
finished campaigns' deliveries counted once by status and domain (delivery_counts).

The domain of existing deliveries is taken from their subscribers, and the rollups are built from the
stored events by the same function ``flask tracking reclassify`` rebuilds them with.

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def _campaign(table: str) -> list[object]:
    return [sa.Column('campaign_id', sa.Integer(), nullable=False),
            sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f(f'fk_{table}_campaign_id_campaigns'),
                                    ondelete='CASCADE')]


def _counter(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table('deliveries') as batch:
        batch.add_column(sa.Column('domain', sa.String(length=255), nullable=True))
    if op.get_bind().dialect.name == 'sqlite':
        domain = "substr(s.email_key, length(rtrim(s.email_key, replace(s.email_key, '@', ''))) + 1)"
    else:
        domain = "reverse(split_part(reverse(s.email_key), '@', 1))"
    op.execute(f'UPDATE deliveries SET domain = (SELECT {domain} FROM subscribers s '  # noqa: S608
               'WHERE s.id = deliveries.subscriber_id)')
    with op.batch_alter_table('deliveries') as batch:
        batch.create_index('ix_deliveries_campaign_status_domain', ['campaign_id', 'status', 'domain'])
        batch.drop_index('ix_deliveries_campaign_status')
        batch.create_index('ix_deliveries_campaign_unsubscribed', ['campaign_id'],
                           postgresql_where=sa.text('unsubscribed_at IS NOT NULL'),
                           sqlite_where=sa.text('unsubscribed_at IS NOT NULL'))
    op.create_table('campaign_hourly', *_campaign('campaign_hourly'), sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
                    *map(_counter, ('opens', 'machine_opens', 'clicks', 'machine_clicks')),
                    sa.PrimaryKeyConstraint('campaign_id', 'hour', name=op.f('pk_campaign_hourly')))
    op.create_table('campaign_totals', *_campaign('campaign_totals'),
                    *map(_counter, ('opened', 'clicked', 'machine_opened', 'machine_clicked', 'anonymous_opens',
                                    'anonymous_machine_opens', 'anonymous_clicks', 'anonymous_machine_clicks')),
                    sa.PrimaryKeyConstraint('campaign_id', name=op.f('pk_campaign_totals')))
    op.create_table('campaign_links',
                    sa.Column('link_id', sa.Integer(), nullable=False),
                    sa.ForeignKeyConstraint(['link_id'], ['links.id'], name=op.f('fk_campaign_links_link_id_links'),
                                            ondelete='CASCADE'),
                    *_campaign('campaign_links'), *map(_counter, ('clicks', 'clickers', 'machine_clicks')),
                    sa.PrimaryKeyConstraint('link_id', name=op.f('pk_campaign_links')))
    op.create_index('ix_campaign_links_campaign_id', 'campaign_links', ['campaign_id'])
    op.create_table('campaign_clients', *_campaign('campaign_clients'), sa.Column('field', sa.String(length=10), nullable=False),
                    sa.Column('name', sa.String(length=100), nullable=False), _counter('opens'),
                    sa.PrimaryKeyConstraint('campaign_id', 'field', 'name', name=op.f('pk_campaign_clients')))
    op.create_table('campaign_domains', *_campaign('campaign_domains'), sa.Column('domain', sa.String(length=255), nullable=False),
                    *map(_counter, ('opened', 'clicked')),
                    sa.PrimaryKeyConstraint('campaign_id', 'domain', name=op.f('pk_campaign_domains')))
    op.create_table('delivery_counts', *_campaign('delivery_counts'),
                    sa.Column('status', sa.String(length=20), nullable=False),
                    sa.Column('domain', sa.String(length=255), nullable=False), _counter('deliveries'),
                    sa.PrimaryKeyConstraint('campaign_id', 'status', 'domain', name=op.f('pk_delivery_counts')))
    op.execute("INSERT INTO delivery_counts (campaign_id, status, domain, deliveries) "
               "SELECT d.campaign_id, d.status, coalesce(d.domain, ''), count(*) FROM deliveries d "
               "JOIN campaigns c ON c.id = d.campaign_id WHERE c.status = 'finished' "
               "GROUP BY d.campaign_id, d.status, coalesce(d.domain, '')")
    # The app's own rebuild (its queries are the rollups' definition), on the migration's connection.
    from sqlalchemy.orm import Session

    from tracking.rollups import rebuild

    session = Session(bind=op.get_bind())
    for (campaign_id,) in list(session.execute(sa.text('SELECT id FROM campaigns'))):
        rebuild([campaign_id], session)
    session.flush()


def downgrade() -> None:
    for table in ('delivery_counts', 'campaign_domains', 'campaign_clients', 'campaign_links', 'campaign_totals', 'campaign_hourly'):
        op.drop_table(table)
    with op.batch_alter_table('deliveries') as batch:
        batch.drop_index('ix_deliveries_campaign_unsubscribed')
        batch.create_index('ix_deliveries_campaign_status', ['campaign_id', 'status'])
        batch.drop_index('ix_deliveries_campaign_status_domain')
        batch.drop_column('domain')
