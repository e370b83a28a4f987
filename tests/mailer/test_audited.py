"""What mailer records in the audit log: layouts, relays (passwords masked), sending domains and their keys, and
campaigns created, changed, scheduled, started and paused."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from core.audit import MASK
from core.db import db, utcnow
from mailer import scheduling
from mailer.models import Campaign
from mailer.outbox import Outbox
from tests.helpers import api_user, audit_entries, basic, run_jobs
from tests.mailer.helpers import create


def test_layouts_relays_domains_and_keys_are_recorded(app: Flask, client: FlaskClient) -> None:
    admin = basic(api_user(app, "admin", "boss"))
    layout = client.post("/api/templates", headers=admin, json={
        "name": "季節のご挨拶", "type": "campaign", "body": "<div>{{ template \"content\" . }}</div>"})
    assert layout.status_code == 200, layout.get_json()
    relay = client.post("/api/relays", headers=admin, json={
        "name": "本社", "host": "127.0.0.1", "port": 2525, "username": "kairan", "password": "s3cret-pass"})
    assert relay.status_code == 200, relay.get_json()
    relay_id = relay.get_json()["data"]["id"]
    changed = client.put(f"/api/relays/{relay_id}", headers=admin, json={
        "name": "本社", "host": "127.0.0.1", "port": 2526, "username": "kairan", "password": "another-pass"})
    assert changed.status_code == 200, changed.get_json()
    domain = client.post("/api/domains", headers=admin, json={"domain": "kairan.example"})
    assert domain.status_code == 200, domain.get_json()

    made, = audit_entries(app, "layout.created")
    assert made.target == "季節のご挨拶" and made.after is not None and made.after["body"] is True  # set, not kept
    relay_made, = audit_entries(app, "relay.created")
    relay_changed, = audit_entries(app, "relay.changed")
    assert relay_made.after is not None and relay_made.after["password"] == MASK
    assert relay_changed.before == {"port": 2525, "password": MASK}
    assert relay_changed.after == {"port": 2526, "password": MASK}
    assert "s3cret-pass" not in str([(entry.before, entry.after) for entry in audit_entries(app)])
    domain_made, = audit_entries(app, "sending_domain.created")
    key_made, = audit_entries(app, "dkim_key.created")
    assert domain_made.target == "kairan.example" and domain_made.actor == "boss"
    assert key_made.after is not None and key_made.after["state"] == "active" and "private_key" not in key_made.after


def test_campaigns_created_scheduled_started_paused_and_finished_are_recorded(app: Flask, client: FlaskClient,
                                                                               capture: Outbox) -> None:
    admin = basic(api_user(app, "admin", "boss"))
    list_id = client.post("/api/lists", headers=admin, json={"name": "会員"}).get_json()["data"]["id"]
    client.post("/api/subscribers", headers=admin, json={"email": "hanako@example.jp", "name": "花子",
                                                         "lists": [list_id], "preconfirm_subscriptions": True})
    campaign = create(client, admin, lists=[list_id], body="<p>こんにちは</p>", send_at="2099-01-01T09:00:00+09:00")
    status_url = f"/api/campaigns/{campaign['id']}/status"
    for status in ("scheduled", "draft", "running", "paused"):
        moved = client.put(status_url, headers=admin, json={"status": status})
        assert moved.status_code == 200, (status, moved.get_json())
    actions = [entry.action for entry in audit_entries(app, "campaign") if entry.action != "campaign.changed"]
    assert actions == ["campaign.created", "campaign.scheduled", "campaign.draft", "campaign.running",
                       "campaign.paused"]
    paused = audit_entries(app, "campaign.paused")[0]
    assert (paused.before, paused.after) == ({"status": "running"}, {"status": "paused"})
    assert (paused.actor, paused.target) == ("boss", "11月号")
    assert client.put(status_url, headers=admin, json={"status": "running"}).status_code == 200
    run_jobs(app)  # a worker sends it, and its bulk UPDATE marks it finished
    finished, = audit_entries(app, "campaign.finished")
    assert capture.count() == 1
    assert (finished.actor_kind, finished.target) == ("job", "11月号")


def test_a_scheduled_campaign_started_when_due_is_recorded(app: Flask, client: FlaskClient) -> None:
    admin = basic(api_user(app, "admin", "boss"))
    list_id = client.post("/api/lists", headers=admin, json={"name": "会員"}).get_json()["data"]["id"]
    client.post("/api/subscribers", headers=admin, json={"email": "hanako@example.jp", "name": "花子",
                                                         "lists": [list_id], "preconfirm_subscriptions": True})
    campaign = create(client, admin, lists=[list_id], body="<p>こんにちは</p>", send_at="2099-01-01T09:00:00+09:00")
    scheduled = client.put(f"/api/campaigns/{campaign['id']}/status", headers=admin, json={"status": "scheduled"})
    assert scheduled.status_code == 200, scheduled.get_json()
    with app.app_context():
        db.session.execute(update(Campaign).where(Campaign.id == campaign["id"]).values(send_at=utcnow()))
        db.session.commit()
        assert scheduling.start_due_campaigns() == 1
    started, = audit_entries(app, "campaign.running")
    assert (started.actor, started.actor_kind, started.target_id) == ("system", "system", str(campaign["id"]))
    assert (started.before, started.after) == ({"status": "scheduled"}, {"status": "running"})
