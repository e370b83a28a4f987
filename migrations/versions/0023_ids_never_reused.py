"""SQLite hands out an id only once (AUTOINCREMENT), as PostgreSQL's sequences always have.

Without it SQLite gives a new row the largest id plus one, so deleting the newest campaign gave
its id to the next one: bookmarks, reports and exports that named it now named another, and rows
that point at an id without a foreign key (deliveries, tracking events) could be read as the new
row's. SQLite can only add AUTOINCREMENT by making the table again: foreign keys are switched off
meanwhile (with them on, dropping the old table would delete what refers to it), and the
subscribers' search triggers, dropped with their table, are made again from their own text.

Revision ID: 0023
Revises: 0022
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

# Every table whose rows have an id of their own that something else refers to (a URL, a report,
# another row). tracking_events is left out: nothing refers to an event's id.
TABLES = ('users', 'lists', 'subscribers', 'consent_records', 'suppressions', 'imports', 'segments',
          'templates', 'campaigns', 'deliveries', 'sending_domains', 'dkim_keys', 'smtp_relays', 'links',
          'media', 'bounces', 'unread_mail')


def _remake(autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        return  # PostgreSQL's sequences never give an id twice
    with op.get_context().autocommit_block():
        op.execute('PRAGMA foreign_keys=OFF')  # has no effect inside a transaction
    triggers = [sql for table in TABLES for sql in bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)).scalars()]
    for table in TABLES:
        with op.batch_alter_table(table, recreate='always', table_kwargs={'sqlite_autoincrement': autoincrement}):
            pass
    for sql in triggers:
        op.execute(sql)
    broken = bind.exec_driver_sql('PRAGMA foreign_key_check').all()
    if broken:
        raise RuntimeError(f'foreign keys broken while the tables were made again: {broken[:5]}')
    with op.get_context().autocommit_block():
        op.execute('PRAGMA foreign_keys=ON')


def upgrade() -> None:
    _remake(autoincrement=True)


def downgrade() -> None:
    _remake(autoincrement=False)
