"""Database set-up shared by the test suite and the benchmarks."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def fresh_postgres(url: str) -> str:
    """Empty a PostgreSQL database's public schema, so migrations start from nothing; return the URL."""
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url
