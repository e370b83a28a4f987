"""Subscriptions and consent records lose their four foreign keys, and PostgreSQL's search index
reads attribute values, not their keys.

A CSV import writes a subscription and a consent record per row, and PostgreSQL checks each
foreign key row by row, locking the referenced subscriber or list: 9.6 of the 32 CPU seconds its
server spent on a 1,000,000-row import. Their two cascades are done in code instead, where every
deletion already goes through (lists/subscribers.py delete_subscribers, lists/services.py
delete_lists), as deliveries did in 0015.

The search text held the attributes as JSON, so each row's index repeated the trigrams of every
key ("pref", "member"), and a search for a key's name matched every subscriber who had it. It
now holds only the values (strings, numbers, booleans, at any depth; not null). lists/queries.py
SEARCH_TEXT writes the same expression; keep the two in step. SQLite's FTS5 table is unchanged: its
content must be a plain table or view (FTS5 reads it without table-valued functions such as json_tree).

Revision ID: 0020
Revises: 0019
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

# table -> its (column, referred table) pairs
FOREIGN_KEYS = {'subscriptions': [('subscriber_id', 'subscribers'), ('list_id', 'lists')],
                'consent_records': [('subscriber_id', 'subscribers'), ('list_id', 'lists')]}
SEARCH_BY_KEYS = "email_key || E'\\x1f' || name || E'\\x1f' || attribs::text"
SEARCH_BY_VALUES = ("email_key || E'\\x1f' || name || E'\\x1f' || "
                    "jsonb_path_query_array(attribs, 'strict $.** ? (@.type() == \"string\" || @.type() == \"number\" "
                    "|| @.type() == \"boolean\")')::text")


def _search_index(expression: str) -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP INDEX ix_subscribers_search')
        op.execute(f'CREATE INDEX ix_subscribers_search ON subscribers USING gin (({expression}) gin_trgm_ops)')


def upgrade() -> None:
    for table, keys in FOREIGN_KEYS.items():
        with op.batch_alter_table(table) as batch:
            for column, referred in keys:
                batch.drop_constraint(f'fk_{table}_{column}_{referred}', type_='foreignkey')
    _search_index(SEARCH_BY_VALUES)


def downgrade() -> None:
    _search_index(SEARCH_BY_KEYS)
    # Rows whose subscriber or list is gone would break the constraints: they go first.
    for table, keys in FOREIGN_KEYS.items():
        for column, referred in keys:
            op.execute(f'DELETE FROM {table} WHERE {column} NOT IN (SELECT id FROM {referred})')  # noqa: S608 - names above
        with op.batch_alter_table(table) as batch:
            for column, referred in keys:
                batch.create_foreign_key(f'fk_{table}_{column}_{referred}', referred, [column], ['id'],
                                         ondelete='CASCADE')
