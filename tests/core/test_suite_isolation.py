"""The suite runs the same whatever Kairan settings the caller's shell exports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from tests.resources import PostgresSnapshot

ROOT = Path(__file__).resolve().parents[2]

# A developer's own installation, exported in the shell that runs make test: each would change what the
# tests below see (the data folder, links' host, the relay mail goes to, times, the sender's name).
CALLERS_SETTINGS = {
    "KAIRAN_DATA_DIR": "/nonexistent/kairan",
    "KAIRAN_BASE_URL": "https://news.example.jp",
    "KAIRAN_SMTP_URL": "smtp://127.0.0.1:9",
    "KAIRAN_TIMEZONE": "America/New_York",
    "KAIRAN_COMPANY_NAME": "よその会社",
    "KAIRAN_MAIL_FROM": "news@example.jp",
}


def test_the_callers_kairan_settings_do_not_reach_the_tests(tmp_path: Path) -> None:
    env = {**{key: value for key, value in os.environ.items() if key != "KAIRAN_TEST_DATABASE_URL"},
           **CALLERS_SETTINGS}
    tests = ["tests/core/test_settings.py::test_defaults_put_everything_in_the_data_folder",
             "tests/core/test_settings.py::test_mail_from_names_the_company",
             "tests/core/test_settings.py::test_timezone_defaults_to_tokyo_and_a_bad_one_is_named",
             "tests/mailer/test_tx.py::test_a_tx_mail_reaches_each_address_with_its_data_and_headers"]
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:]


def _connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))


def _state(url: str) -> dict[str, list[Any]]:
    """Every row of every table and every sequence's position, by name."""
    with _connect(url) as conn:
        names = conn.execute("SELECT tablename, 'SELECT * FROM {}' FROM pg_tables WHERE schemaname = 'public' UNION "
                             "SELECT sequencename, 'SELECT last_value, is_called FROM {}' FROM pg_sequences "
                             "WHERE schemaname = 'public'").fetchall()
        return {name: sorted(map(repr, conn.execute(sql.SQL(query).format(sql.Identifier(name)))))
                for name, query in names}


@pytest.mark.skipif(not os.environ.get("KAIRAN_TEST_DATABASE_URL"), reason="PostgreSQL is not asked for")
def test_postgresql_is_put_back_as_the_migrations_left_it(migrated_postgres: PostgresSnapshot | None) -> None:
    """What a test before wrote, and a schema it changed, are gone for the next test (tests/resources.py)."""
    if migrated_postgres is None:
        pytest.skip("no pg_dump: each test migrates an empty schema")
    url = migrated_postgres.restore()
    migrated = _state(url)
    with _connect(url) as conn:
        conn.execute("INSERT INTO lists (name, uuid, type, optin, status, tags, description, created_at, updated_at) "
                     "VALUES ('x', gen_random_uuid(), 'public', 'single', 'active', '[]', '', now(), now())")
        conn.execute("INSERT INTO subscribers (uuid, email, email_key, name, attribs, status, created_at, updated_at) "
                     "VALUES (gen_random_uuid(), 'a@example.jp', 'a@example.jp', 'a', '{}', 'enabled', now(), now())")
        conn.execute("INSERT INTO subscriptions (subscriber_id, list_id, status, meta, created_at, updated_at) "
                     "SELECT subscribers.id, lists.id, 'confirmed', '{}', now(), now() FROM subscribers, lists")
        conn.execute("DELETE FROM templates")
    assert _state(url) != migrated
    assert _state(migrated_postgres.restore()) == migrated
    with _connect(url) as conn:
        conn.execute("CREATE TABLE left_behind (id serial)")
        conn.execute("ALTER TABLE lists ADD COLUMN colour text")
    assert _state(url) != migrated
    assert _state(migrated_postgres.restore()) == migrated
