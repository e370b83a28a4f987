"""Hot SQL of the audience: the CSV import's bulk writes, handed to the database driver as they are,
and the subscribers page's substring search.

For 100,000 rows SQLAlchemy's per-row parameter processing cost 3.7 s where SQLite's own
executemany took 0.8 s, so these statements take rows already in the driver's form:
JSON as text, timestamps as the dialect stores them, enums as their values.

The import looks up a batch's addresses once and inserts only new rows, so each database
can use its fastest way in: SQLite a prepared INSERT per row (executemany, no network);
PostgreSQL COPY, which streams rows in C (a statement per row ran at 13,600 rows/s, array
parameters at 10,800, COPY through a staging table at 18,000). New subscribers get their
ids from the sequence before the COPY, so no second lookup follows. A row that appeared
meanwhile (another writer) makes PostgreSQL's COPY fail; that batch then goes through
INSERT … ON CONFLICT instead. Subscriptions and consent records differ only by subscriber,
so they go in one INSERT … SELECT per list from the ids passed as one parameter.

The search goes through trigram indexes (migration 0006), which the import pays for. On
PostgreSQL a 1,000,000-row import costs the server ~22 µs of CPU a row: half of it the trigram
GIN index, the rest heaps and b-trees. Subscriptions and consent records have no foreign keys
(migration 0020: their row-by-row checks took 9.6 of what was 32 s), and lists/import_job.py
writes on two connections at once, so the server works on both cores. On SQLite each batch
is indexed in one statement (row by row cost ~40 µs), with the row trigger set aside.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import psycopg
from psycopg import postgres
from psycopg.adapt import Dumper
from psycopg.pq import Format
from sqlalchemy import ColumnElement, Integer, String, cast, delete, literal_column, or_, text

from core.db import db, json_text
from lists.models import ConsentRecord, Subscriber, Subscription

# Column order of the rows callers pass.
SUBSCRIBER_COLUMNS = ("uuid", "email", "email_key", "name", "attribs", "status", "created_at", "updated_at")
# Their PostgreSQL types, for the binary COPY (_bulk_insert); the id drawn before it is an int4.
SUBSCRIBER_TYPES = ("varchar", "varchar", "varchar", "varchar", "jsonb", "varchar", "timestamptz", "timestamptz")
SUBSCRIPTION_COLUMNS = ("subscriber_id", "list_id", "status", "meta", "created_at", "updated_at")
CONSENT_COLUMNS = ("subscriber_id", "list_id", "created_at", "method", "status", "ip", "user_agent", "evidence")


def is_sqlite() -> bool:
    """Tell whether the app runs on SQLite (the other database is PostgreSQL)."""
    return db.engine.dialect.name == "sqlite"


def db_time(value: datetime) -> Any:
    """Return a timestamp as the driver stores it (SQLite: UTC text in SQLAlchemy's format)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if is_sqlite() else value


def bulk_checkpoints(bulk: bool) -> None:
    """On SQLite, let the WAL grow to 64 MB between checkpoints while an import writes, else SQLite's 1,000
    pages: each 20,000-row batch outgrew 4 MB, so every commit copied it back into the database file
    (the import's process then took ~7% more CPU)."""
    if is_sqlite():
        db.session.connection().exec_driver_sql(f"PRAGMA wal_autocheckpoint = {16384 if bulk else 1000}")


def delete_memberships(*, subscriber_ids: Sequence[int] = (), list_ids: Sequence[int] = ()) -> None:
    """Delete the subscriptions and consent records of these subscribers and lists, in the caller's
    transaction: the cascade their foreign keys did before migration 0020."""
    for model in (Subscription, ConsentRecord):
        for column, ids in ((model.subscriber_id, subscriber_ids), (model.list_id, list_ids)):
            if ids:
                db.session.execute(delete(model).where(column.in_(ids)).execution_options(synchronize_session=False))


def _driver_cursor() -> Any:
    return db.session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]


class _JsonText(Dumper):
    """JSON text made already (core.db.json_text) as jsonb in a binary COPY: its version byte, then the text."""

    format = Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: str) -> bytes:
        return b"\x01" + obj.encode()


def _bulk_insert(table: str, columns: Sequence[str], types: Sequence[str], rows: Sequence[tuple[Any, ...]],
                 conflict: str) -> bool:
    """Insert new rows (tuples in column order, ``types`` their PostgreSQL types, for the binary COPY);
    ``conflict`` says what a row that exists meanwhile gets.

    Return whether every row went in as given (PostgreSQL's COPY; False after its fallback and on SQLite).
    """
    if not rows:
        return True
    names = ", ".join(columns)
    if is_sqlite():
        marks = ", ".join("?" * len(columns))
        db.session.connection().exec_driver_sql(
            f"INSERT INTO {table} ({names}) VALUES ({marks}) {conflict}", list(rows))
        return False
    cursor = _driver_cursor()
    cursor.adapters.register_dumper(None, _JsonText)  # for set_types' jsonb, this cursor only
    cursor.execute("SAVEPOINT bulk_copy")
    try:
        # Binary, with the columns' exact types (the COPY fails if the table's change): psycopg writes each
        # value in C by its type, and the server takes numbers and timestamps without parsing text. The
        # job's own CPU for 1M rows fell from 4.6 s to 2.9 s, and its writer threads hold the GIL that
        # much less, so each connection is fed sooner.
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
        cursor.execute("RELEASE SAVEPOINT bulk_copy")
        return True
    except psycopg.errors.UniqueViolation:
        cursor.execute("ROLLBACK TO SAVEPOINT bulk_copy")
        marks = ", ".join(["%s"] * len(columns))
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}) {conflict}", rows)
        return False


def insert_subscribers(rows: Sequence[tuple[Any, ...]]) -> dict[str, tuple[int, str]]:
    """Insert subscribers the caller found absent (rows in SUBSCRIBER_COLUMNS order); return email_key → (id, status).

    An address another writer added meanwhile is left as it is (and returned with its id).
    """
    if not rows:
        return {}
    conflict = "ON CONFLICT (email_key) DO NOTHING"
    if not is_sqlite():
        # Ids drawn from the sequence up front: COPY writes them, and no lookup of 5,000 keys follows.
        cursor = _driver_cursor()
        # The sequence looked up once (a subquery), not per id: that made 10,000 ids cost 20 ms, not 2.
        cursor.execute("SELECT nextval((SELECT pg_get_serial_sequence('subscribers', 'id')::regclass)) "
                       "FROM generate_series(1, %s)", (len(rows),))
        ids = [subscriber_id for (subscriber_id,) in cursor.fetchall()]
        if _bulk_insert("subscribers", ("id", *SUBSCRIBER_COLUMNS), ("int4", *SUBSCRIBER_TYPES),
                        [(subscriber_id, *row) for subscriber_id, row in zip(ids, rows, strict=True)], conflict):
            return {row[2]: (subscriber_id, row[5]) for subscriber_id, row in zip(ids, rows, strict=True)}
    else:
        before = _sqlite_insert_indexed(rows, conflict)
        # The new rows are the ones above the largest id before: read them by id, not by 5,000 keys.
        inserted = _fetch("SELECT email_key, id, status FROM subscribers WHERE id > ?", (before,))
        if len(inserted) == len(rows):
            return {key: (subscriber_id, status) for key, subscriber_id, status in inserted}
    return subscribers_by_key([row[2] for row in rows])


def _sqlite_insert_indexed(rows: Sequence[tuple[Any, ...]], conflict: str) -> int:
    """Insert subscribers on SQLite, then add them to the search index in one statement (see migration 0006).

    Return the largest id before the insert: the new rows are the ones above it.
    """
    connection = db.session.connection()
    if not connection.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
        # Python's sqlite3 opens a transaction before INSERT, UPDATE and DELETE only: a DROP coming first was
        # committed on its own, and a rollback of the rest (a failed import batch, a refused event) then took
        # back the trigger's return, leaving every later subscriber out of the search index. IMMEDIATE also
        # takes the write lock now, as the comment below counts on.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    # The row-by-row index trigger is dropped inside this transaction and made again from its own
    # text before the commit, so nobody else ever sees it missing (SQLite's DDL is transactional).
    # Standing by, its WHEN test still cost ~4.5 µs a row, as much as the insert itself. Being a
    # write, the DROP also takes SQLite's write lock: nobody else adds subscribers until the commit,
    # so the new rows get the ids above the largest one.
    trigger = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'subscriber_search_insert'").scalar_one()
    connection.exec_driver_sql("DROP TRIGGER subscriber_search_insert")
    before: int = connection.exec_driver_sql("SELECT coalesce(max(id), 0) FROM subscribers").scalar_one()
    _bulk_insert("subscribers", SUBSCRIBER_COLUMNS, SUBSCRIBER_TYPES, rows, conflict)
    connection.exec_driver_sql(
        "INSERT INTO subscriber_search (rowid, email_key, name, attribs) "
        "SELECT id, email_key, name, attribs FROM subscribers WHERE id > ?", (before,))
    connection.exec_driver_sql(trigger)
    return before


def update_subscribers(rows: Sequence[tuple[Any, ...]], fields: Sequence[str]) -> None:
    """Set ``fields`` (and updated_at) of existing subscribers; rows are (*values, updated_at, email_key)."""
    if not rows:
        return
    mark = "?" if is_sqlite() else "%s"
    assignments = ", ".join(f"{field} = {mark}" for field in (*fields, "updated_at"))
    sql = f"UPDATE subscribers SET {assignments} WHERE email_key = {mark}"
    if is_sqlite():
        db.session.connection().exec_driver_sql(sql, list(rows))
    else:
        _driver_cursor().executemany(sql, rows)


def insert_subscriptions(subscriber_ids: Sequence[int], list_id: int, status: str, stamp: Any) -> None:
    """Subscribe these subscribers to one list; a subscription another writer added meanwhile is kept."""
    _insert_per_id("subscriptions", SUBSCRIPTION_COLUMNS, subscriber_ids, (list_id, status, "{}", stamp, stamp),
                   "ON CONFLICT (subscriber_id, list_id) DO NOTHING")


def insert_consent_records(subscriber_ids: Sequence[int], list_id: int, stamp: Any, status: str, *,
                           method: str, evidence: str) -> None:
    """Record the consent of these subscribers to one list (no IP or browser: a file said so)."""
    _insert_per_id("consent_records", CONSENT_COLUMNS, subscriber_ids,
                   (list_id, stamp, method, status, None, None, evidence), "")


def _insert_per_id(table: str, columns: Sequence[str], ids: Sequence[int], values: tuple[Any, ...],
                   conflict: str) -> None:
    """Insert one row per id (the first column), the other columns alike, in one statement.

    The ids go in as one parameter (a JSON array on SQLite, an int array on PostgreSQL): that took
    a third of the CPU of a row per subscriber on SQLite (executemany), and on PostgreSQL 2.5 µs a
    row less than COPY on the server (no text to parse) and 3 µs less in Python.
    """
    if not ids:
        return
    sqlite = is_sqlite()
    mark, source = ("?", "json_each(?) AS ids") if sqlite else ("%s", "unnest(%b::integer[]) AS ids(value)")
    # WHERE true: SQLite would otherwise read ON CONFLICT as a join's ON.
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) "
           f"SELECT ids.value, {', '.join([mark] * len(values))} FROM {source} WHERE true")
    params = (*values, json_text(list(ids)) if sqlite else list(ids))
    if sqlite:
        db.session.connection().exec_driver_sql(f"{sql} {conflict}", params)
        return
    cursor = _driver_cursor()
    cursor.execute("SAVEPOINT bulk_insert")
    try:  # without ON CONFLICT unless needed: PostgreSQL's speculative insertion costs every row
        cursor.execute(sql, params)
        cursor.execute("RELEASE SAVEPOINT bulk_insert")
    except psycopg.errors.UniqueViolation:
        cursor.execute("ROLLBACK TO SAVEPOINT bulk_insert")
        cursor.execute(f"{sql} {conflict}", params)


def _in(column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
    """Return a membership test for a column: IN (?, …) on SQLite, = ANY(array) on PostgreSQL."""
    if is_sqlite():
        return f"{column} IN ({', '.join('?' * len(values))})", tuple(values)
    return f"{column} = ANY(%b)", (list(values),)  # %b: psycopg sends the array in binary, converted in C


def _fetch(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Return a query's rows as the driver gives them (thousands of rows: no per-row wrapping)."""
    cursor = _driver_cursor()
    cursor.execute(sql, params)
    return cursor.fetchall()


def subscribers_by_key(email_keys: Sequence[str]) -> dict[str, tuple[int, str]]:
    """Return email_key → (id, status) of the subscribers with these case-folded addresses."""
    if not email_keys:
        return {}
    where, params = _in("email_key", email_keys)
    rows = _fetch(f"SELECT email_key, id, status FROM subscribers WHERE {where}", params)
    return {key: (subscriber_id, status) for key, subscriber_id, status in rows}


def subscriber_ids_by(column: Literal["id", "uuid"], values: Sequence[Any]) -> dict[Any, int]:
    """Return value → id of the subscribers whose id or uuid is among values (thousands: one query, one parameter
    on PostgreSQL, where SQLAlchemy's IN of 1,000 values cost psycopg 13 ms to split the statement each time)."""
    if not values:
        return {}
    where, params = _in(column, values)
    return dict(_fetch(f"SELECT {column}, id FROM subscribers WHERE {where}", params))


def existing_subscriptions(subscriber_ids: Sequence[int], list_ids: Sequence[int]) -> set[tuple[int, int]]:
    """Return the (subscriber, list) pairs among these that exist already."""
    if not subscriber_ids or not list_ids:
        return set()
    # By subscriber alone (the primary key's first column), lists picked here: with a list_id
    # condition PostgreSQL read the list's whole index once per batch (100 ms at 300,000 members).
    where, params = _in("subscriber_id", subscriber_ids)
    result = db.session.connection().exec_driver_sql(
        f"SELECT subscriber_id, list_id FROM subscriptions WHERE {where}", params)
    wanted = set(list_ids)
    return {(subscriber_id, list_id) for subscriber_id, list_id in result if list_id in wanted}


# The substring search of the subscribers page (email_key, name, attribute values), the
# same expressions migration 0006 indexes with trigrams. A search of fewer than 3
# characters has no trigram, so it reads every row (SQLite: straight from subscribers;
# PostgreSQL's planner picks the scan by itself).
SEARCH_MIN_TRIGRAM = 3
# The attributes' values (strings, numbers, booleans at any depth), not their keys (migration 0020).
SEARCH_TEXT = ("(subscribers.email_key || E'\\x1f' || subscribers.name || E'\\x1f' || jsonb_path_query_array("
               "subscribers.attribs, 'strict $.** ? (@.type() == \"string\" || @.type() == \"number\" "
               "|| @.type() == \"boolean\")')::text)")
SQLITE_SEARCH = text(
    "SELECT rowid FROM subscriber_search WHERE email_key LIKE :pattern "
    "UNION ALL SELECT rowid FROM subscriber_search WHERE name LIKE :pattern "
    "UNION ALL SELECT rowid FROM subscriber_search WHERE attribs LIKE :pattern"
).columns(rowid=Integer)


def search_condition(search: str) -> ColumnElement[bool]:
    """Return a WHERE clause on subscribers: the search is a substring (any case) of email, name or attributes."""
    pattern = f"%{search}%"  # % and _ stay wildcards, as in the scan before the index
    if not is_sqlite():
        return literal_column(SEARCH_TEXT).ilike(pattern)
    if len(search) >= SEARCH_MIN_TRIGRAM:
        # FTS5 turns LIKE on its columns (case-insensitive for ASCII, as SQLite's LIKE) into a trigram lookup.
        return Subscriber.id.in_(SQLITE_SEARCH.bindparams(pattern=pattern))
    return or_(Subscriber.email_key.like(pattern.casefold()), Subscriber.name.ilike(pattern),
               cast(Subscriber.attribs, String).ilike(pattern))
