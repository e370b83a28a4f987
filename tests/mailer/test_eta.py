"""A running campaign's time left accounts for the per-domain pacing of what is still unsent, and says so."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from core.db import db, utcnow
from mailer.models import Campaign, CampaignStatus
from tests.helpers import api_user, login
from tests.mailer.helpers import running_campaign


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    """docomo.ne.jp takes 60 messages a minute here."""
    return {**settings_env, "KAIRAN_DOMAIN_LIMITS": "docomo.ne.jp=60"}


def test_the_time_left_waits_for_a_paced_domain_and_names_it(app: Flask, client: FlaskClient,
                                                             users: dict[str, str]) -> None:
    # 100 sent in 10 s (10 a second) would finish the last 30 in 3 s; docomo.ne.jp takes them at 1 a second.
    campaign_id = running_campaign(app, 100, {"docomo.ne.jp": 30}, 10)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ja"
    login(client, "admin")
    progress = client.get(f"/campaigns/{campaign_id}/progress.json").get_json()["data"]
    assert progress["seconds_left"] == 30  # not 3: the rest all goes to the paced domain
    assert progress["time_left"] == "残り時間: 約 30 秒"
    assert "docomo.ne.jp" in progress["paced_by"] and "毎分 60 通" in progress["paced_by"]
    page = client.get(f"/campaigns/{campaign_id}/preview").get_data(as_text=True)
    assert "docomo.ne.jp 宛ての残り 30 通" in page


def test_the_time_left_of_an_unpaced_rest_is_the_rate_seen(app: Flask, client: FlaskClient,
                                                           users: dict[str, str]) -> None:
    campaign_id = running_campaign(app, 100, {"example.jp": 30, "docomo.ne.jp": 2}, 10)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, "admin")
    progress = client.get(f"/campaigns/{campaign_id}/progress.json").get_json()["data"]
    assert 3 <= progress["seconds_left"] <= 5 and progress["paced_by"] == ""  # 32 at about 10 a second
    assert progress["time_left"] == f"time left: about {progress['seconds_left']} seconds"


def test_outside_its_sending_window_a_campaign_says_when_it_starts_and_a_finished_one_says_no_time(
        app: Flask, client: FlaskClient, users: dict[str, str]) -> None:
    campaign_id = running_campaign(app, 0, {"example.jp": 3}, 10)
    with app.app_context():
        zone = ZoneInfo(app.config["KAIRAN"].timezone)
        opens = (utcnow() + timedelta(hours=2)).astimezone(zone)
        campaign = db.session.get_one(Campaign, campaign_id)  # quiet hours from an hour ago until in two hours
        campaign.quiet_start = (utcnow() - timedelta(hours=1)).astimezone(zone).strftime("%H:%M")
        campaign.quiet_end = opens.strftime("%H:%M")
        db.session.commit()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ja"
    login(client, "admin")
    progress = client.get(f"/campaigns/{campaign_id}/progress.json").get_json()["data"]
    assert progress["paced_by"].startswith("配信時間帯の外です")  # not "not known yet"
    assert f"{opens.hour}:{opens:%M} に配信を始めます" in progress["paced_by"]
    assert 7000 < progress["seconds_left"] <= 7200
    with app.app_context():
        db.session.execute(update(Campaign).where(Campaign.id == campaign_id).values(status=CampaignStatus.FINISHED))
        db.session.commit()
    progress = client.get(f"/campaigns/{campaign_id}/progress.json").get_json()["data"]
    assert progress["time_left"] == "" and progress["paced_by"] == ""


def test_a_campaign_no_one_would_receive_says_so_first_among_its_checks(app: Flask, client: FlaskClient,
                                                                         users: dict[str, str]) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, "admin")
    made = client.post("/api/campaigns", headers={"Authorization": f"token {api_user(app, 'admin', 'boss')}"},
                       json={"name": "冬のセール", "subject": "冬のセール", "lists": [], "body": "<p>こんにちは</p>"})
    page = client.get(f"/campaigns/{made.get_json()['data']['id']}/preview").get_data(as_text=True)
    assert "No one would receive it: choose a list on the campaign&#39;s page." in page
