"""What the test suite and the benchmarks both set up: fresh databases and free ports.

No pytest here: the benchmarks run from the runtime environment that make up builds."""

from __future__ import annotations

import socket
import subprocess
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def fresh_postgres(url: str, schema_sql: str | None = None) -> str:
    """Empty a PostgreSQL database's public schema, so migrations start from nothing, or make it again from
    schema_sql (postgres_dump's); return the URL."""
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
        if schema_sql:
            # Straight to psycopg without parameters: it neither reads % as a placeholder nor splits the statements.
            conn.connection.dbapi_connection.cursor().execute(schema_sql)  # type: ignore[union-attr]
    engine.dispose()
    return url


def postgres_beside(url: str, suffix: str) -> str:
    """The URL of the database named as url's with ``_suffix`` on the same server, made when missing."""
    name = f"{make_url(url).database}_{suffix}"
    with libpq(url) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def postgres_dump(url: str, *options: str) -> str:
    """Return the SQL that makes the public schema again with its rows (pg_dump's, without psql's commands);
    ``--data-only``: the rows alone, and each sequence's value."""
    libpq_url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    dump = subprocess.run(["pg_dump", "--inserts", "--no-owner", "--no-privileges", *options, libpq_url],
                          capture_output=True, text=True, check=True).stdout
    # The dump empties search_path for its session; the tests' connections must keep theirs.
    lines = [line for line in dump.splitlines() if not line.startswith("\\") and "set_config('search_path'" not in line]
    return "\n".join(line for line in lines if not line.startswith(("CREATE SCHEMA public", "COMMENT ON SCHEMA")))


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on right now."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """Return ``count`` different free ports: each socket stays bound until all are chosen, or the system
    could hand the same port out twice (two one-by-one calls did, and settings refused the pair)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


# What the schema is made of: tables and their columns, indexes, sequences, views, triggers and functions.
_SCHEMA_FINGERPRINT = """
SELECT md5(coalesce(string_agg(item, ',' ORDER BY item), '')) FROM (
  SELECT c.relname || ':' || c.relkind::text || ':' || coalesce(a.attname::text || ':' || a.atttypid::text, '') AS item
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  WHERE n.nspname = 'public'
  UNION ALL SELECT 'trigger:' || t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND NOT t.tgisinternal
  UNION ALL SELECT 'function:' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname = 'public'
) AS schema"""
_FOREIGN_KEYS = """
SELECT child.relname, parent.relname FROM pg_constraint k
JOIN pg_class child ON child.oid = k.conrelid JOIN pg_class parent ON parent.oid = k.confrelid
JOIN pg_namespace n ON n.oid = child.relnamespace WHERE k.contype = 'f' AND n.nspname = 'public'"""


class PostgresSnapshot:
    """A migrated PostgreSQL database, put back as the migrations left it before each test.

    Making the schema again from pg_dump's SQL cost the server ~0.2 s of CPU a test, and so did
    CREATE DATABASE from a template (13 MB of catalogs copied); emptying the tables, child tables
    first, and putting back the migrations' own rows and sequence values costs it ~2 ms. A test that
    changed the schema (one that migrates) changes its fingerprint, and the schema is made again.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.schema_sql = postgres_dump(url)
        self.rows_sql = postgres_dump(url, "--data-only")
        with libpq(url) as conn:
            self.fingerprint = conn.execute(_SCHEMA_FINGERPRINT).fetchone()[0]  # type: ignore[index]
            tables = [row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
            references = conn.execute(_FOREIGN_KEYS).fetchall()
        self.empty = sql.SQL("").join(sql.SQL("DELETE FROM {};\n").format(sql.Identifier(table))
                                      for table in _children_first(tables, references))

    def restore(self) -> str:
        """Put the database back as it was after the migrations; return its URL."""
        with libpq(self.url) as conn:
            if conn.execute(_SCHEMA_FINGERPRINT).fetchone()[0] == self.fingerprint:  # type: ignore[index]
                with conn.transaction():
                    conn.execute(sql.Composed([self.empty, sql.SQL(self.rows_sql)]))
                return self.url
        return fresh_postgres(self.url, self.schema_sql)


def _children_first(tables: list[str], references: list[Any]) -> list[str]:
    """The tables in an order that deletes the rows referring to each one's before its own."""
    parents = {table: {parent for child, parent in references if child == table and parent != table}
               for table in tables}
    ordered: list[str] = []
    while len(ordered) < len(tables):
        leaves = [t for t in tables if t not in ordered and not any(t in parents[o] for o in tables
                                                                      if o not in ordered)]
        if not leaves:
            raise ValueError(f"foreign keys form a cycle among {sorted(set(tables) - set(ordered))}")
        ordered.extend(leaves)
    return ordered


def libpq(url: str) -> psycopg.Connection[Any]:
    """A plain connection to the PostgreSQL database of a SQLAlchemy URL, in autocommit."""
    return psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
                           autocommit=True)
