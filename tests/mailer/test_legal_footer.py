"""特定電子メール法: a campaign is neither sent nor scheduled without the sender's address and contact point.

What each bad input gets: starting or scheduling such a campaign answers 400 naming the settings to
set; the campaign stays a draft and nothing is queued or materialised.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from core.db import db
from mailer.models import Delivery
from tests.helpers import api_user
from tests.mailer.helpers import audience


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    """An installation whose admin has not yet said where the company is or how to reach it."""
    return {name: value for name, value in settings_env.items()
            if name not in ("KAIRAN_POSTAL_ADDRESS", "KAIRAN_CONTACT")}


def test_without_the_senders_address_and_contact_nothing_is_sent_or_scheduled(app: Flask, client: FlaskClient) -> None:
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}", "Accept-Language": "en"}
    lists = audience(client, headers)
    campaign = client.post("/api/campaigns", headers=headers, json={
        "name": "住所なし", "subject": "お知らせ", "content_type": "plain", "lists": lists,
        "body": "本文"}).get_json()["data"]
    url = f"/api/campaigns/{campaign['id']}"
    for status, extra in (("running", {}), ("scheduled", {"send_at": "2099-01-01T09:00:00+09:00"})):
        if extra:
            client.put(url, headers=headers, json=extra)
        refused = client.put(f"{url}/status", headers=headers, json={"status": status})
        assert refused.status_code == 400
        assert "KAIRAN_POSTAL_ADDRESS and KAIRAN_CONTACT" in refused.get_json()["message"]
        assert client.get(url, headers=headers).get_json()["data"]["status"] == "draft"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0
