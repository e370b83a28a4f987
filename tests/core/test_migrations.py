"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from core.db import db
from tests.helpers import api_user


@pytest.mark.usefixtures("ctx")
def test_migrations_match_the_models(app: Flask) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, db.metadata)
    # Indexes and triggers that only raw SQL can express (trigram search, jsonb GIN) live in migrations alone.
    differences = [d for d in differences if not (isinstance(d, tuple) and d[0] in ("remove_index", "remove_table"))]
    assert differences == []


def test_a_deleted_rows_id_is_never_given_to_the_next_one(app: Flask) -> None:
    """SQLite would give the newest row's id again once it is deleted; PostgreSQL's sequences never do."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'admin')}"
    first = client.post("/api/lists", json={"name": "夏の案内"}).get_json()["data"]["id"]
    assert client.delete(f"/api/lists/{first}").status_code == 200
    second = client.post("/api/lists", json={"name": "秋の案内"}).get_json()["data"]["id"]
    assert second > first
    campaign = {"name": "A", "subject": "A", "lists": [second], "body": "<p>hi</p>", "content_type": "html"}
    old = client.post("/api/campaigns", json=campaign).get_json()["data"]["id"]
    assert client.delete(f"/api/campaigns/{old}").status_code == 200
    new = client.post("/api/campaigns", json=campaign).get_json()["data"]["id"]
    assert new > old
