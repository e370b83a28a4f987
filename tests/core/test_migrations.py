"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import text

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


@pytest.mark.unmigrated
def test_upgrading_keeps_what_refers_to_a_remade_table(app: Flask) -> None:
    """An installation with a campaign and its opens, upgraded from 0028 to the head: SQLite's batch mode remakes
    campaigns on the way (0030), and the opens, which refer to it ON DELETE CASCADE, stay."""
    with app.app_context():
        upgrade(revision="0028")
        db.session.execute(text(
            "INSERT INTO campaigns (id, uuid, name, subject, from_email, preheader, status, kind, content_type, body, "
            "lists, tags, headers, language, charset, archive, to_send, created_at, updated_at) VALUES (7, 'u-7', "
            "'夏の案内', '夏の案内', '', '', 'finished', 'regular', 'html', '', '[]', '[]', '[]', 'ja', 'utf-8', "
            ":no, 1, :at, :at)"), {"no": False, "at": datetime(2026, 7, 1, tzinfo=UTC)})
        db.session.execute(text(
            "INSERT INTO tracking_events (stream_id, campaign_id, kind, at, head, prefetch, human, rule) "
            "VALUES ('1-0', 7, 'open', :at, :no, :no, :yes, 'person')"),
            {"no": False, "yes": True, "at": datetime(2026, 7, 1, 9, tzinfo=UTC)})
        db.session.commit()
        db.session.remove()
        upgrade()
        assert db.session.execute(text("SELECT campaign_id FROM tracking_events")).scalars().all() == [7]
        db.session.remove()
