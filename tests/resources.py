"""What the test suite and the benchmarks both set up: fresh databases and free ports.

No pytest here: the benchmarks run from the runtime environment that make up builds."""

from __future__ import annotations

import socket
import subprocess

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


def postgres_dump(url: str) -> str:
    """Return the SQL that makes the public schema again with its rows (pg_dump's, without psql's commands)."""
    libpq_url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    dump = subprocess.run(["pg_dump", "--inserts", "--no-owner", "--no-privileges", libpq_url],
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
