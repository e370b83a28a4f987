"""Substring search of subscribers through a trigram index (pg_trgm on PostgreSQL, FTS5 on SQLite),
and a GIN index of attributes on PostgreSQL for segments' equality rules.

The subscribers page searches a substring of email_key, name and attribute values; without
an index that reads every row (1M subscribers: ~700 ms). lists/queries.py writes the very
expressions indexed here, so keep the two in step.

Revision ID: 0006
Revises: 0005
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# SQLite: an external-content FTS5 table (the text stays in subscribers; only the trigram
# index is stored). detail='none' halves its size and build time; LIKE on its columns
# still uses the trigrams, then checks the pattern on the row itself.
SQLITE_UP = [
    "CREATE VIRTUAL TABLE subscriber_search USING fts5(email_key, name, attribs, content='subscribers', "
    "content_rowid='id', tokenize='trigram', detail='none')",
    # While the CSV import holds a row here it indexes its batch itself, in one INSERT … SELECT:
    # row by row the trigger costs ~40 µs (FTS5 writes its pending terms at every statement), a
    # batch at once ~3 µs a row. Only the writer's own transaction ever sees the row.
    "CREATE TABLE subscriber_search_bulk (active INTEGER NOT NULL)",
    "CREATE TRIGGER subscriber_search_insert AFTER INSERT ON subscribers "
    "WHEN NOT EXISTS (SELECT 1 FROM subscriber_search_bulk) BEGIN "
    "INSERT INTO subscriber_search (rowid, email_key, name, attribs) "
    "VALUES (new.id, new.email_key, new.name, new.attribs); END",
    # An external-content index forgets a row only when given the values it indexed.
    "CREATE TRIGGER subscriber_search_delete AFTER DELETE ON subscribers BEGIN "
    "INSERT INTO subscriber_search (subscriber_search, rowid, email_key, name, attribs) "
    "VALUES ('delete', old.id, old.email_key, old.name, old.attribs); END",
    "CREATE TRIGGER subscriber_search_update AFTER UPDATE OF email_key, name, attribs ON subscribers BEGIN "
    "INSERT INTO subscriber_search (subscriber_search, rowid, email_key, name, attribs) "
    "VALUES ('delete', old.id, old.email_key, old.name, old.attribs); "
    "INSERT INTO subscriber_search (rowid, email_key, name, attribs) "
    "VALUES (new.id, new.email_key, new.name, new.attribs); END",
    "INSERT INTO subscriber_search (subscriber_search) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER subscriber_search_update",
    "DROP TRIGGER subscriber_search_delete",
    "DROP TRIGGER subscriber_search_insert",
    "DROP TABLE subscriber_search",
    "DROP TABLE subscriber_search_bulk",
]

# PostgreSQL: one GIN trigram index on the three fields joined by a separator no search
# holds (U+001F), so a match cannot span two fields. pg_trgm is a trusted extension.
POSTGRES_UP = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_subscribers_search ON subscribers USING gin "
    "((email_key || E'\\x1f' || name || E'\\x1f' || attribs::text) gin_trgm_ops)",
    # attribs @> '{"city": "大阪"}' (lists/segments.py); jsonb_path_ops: one small entry per value.
    "CREATE INDEX ix_subscribers_attribs ON subscribers USING gin (attribs jsonb_path_ops)",
]
POSTGRES_DOWN = ["DROP INDEX ix_subscribers_attribs", "DROP INDEX ix_subscribers_search"]


def upgrade() -> None:
    for statement in SQLITE_UP if op.get_bind().dialect.name == "sqlite" else POSTGRES_UP:
        op.execute(statement)


def downgrade() -> None:
    for statement in SQLITE_DOWN if op.get_bind().dialect.name == "sqlite" else POSTGRES_DOWN:
        op.execute(statement)
