"""When to send, end to end: a real worker, the capture SMTP server, and the clock moved.

- Send-time optimisation: readers with at least five human opens (and clicks) get their own hour; the others get
  the open-time heatmap's busiest hour; machines' opens count for nothing. Each message leaves at its hour.
- A sending window holds the mail until it opens (the campaign's quiet hours, the other way round).
- The heatmap (API and page) and its best slot; bad inputs and what each gets.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import parseaddr

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core import clock
from core.db import db
from lists.models import Subscriber
from mailer.models import Campaign, CampaignStatus, Delivery
from mailer.outbox import Outbox
from tests.helpers import api_user, csrf_token, login, wait_until
from tests.mailer.helpers import Workers
from tests.tracking.helpers import TOKYO, history


def move_to(app: Flask, local: datetime) -> None:
    """Move every clock of the installation to this local time."""
    clock.move(app.config["KAIRAN"].redis_url, local - clock.now())


def tomorrow_at(hour: int, minute: int = 0) -> datetime:
    """Tomorrow's local time (always ahead of now: the clock only moves on)."""
    day = clock.now().astimezone(TOKYO) + timedelta(days=1)
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0)


def editor(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"token {api_user(app, 'admin', 'boss')}"
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def start(client: FlaskClient, list_id: int, **fields: object) -> int:
    """Create a plain-text campaign to the list with these fields and start it; return its id."""
    created = client.post("/api/campaigns", json={"name": "12月号", "subject": "12月のお知らせ", "lists": [list_id],
                                                  "content_type": "plain", "body": "{{ subscriber.name }}様", **fields})
    assert created.status_code == 200, created.get_json()
    campaign_id = int(created.get_json()["data"]["id"])
    started = client.put(f"/api/campaigns/{campaign_id}/status", json={"status": "running"})
    assert started.status_code == 200, started.get_json()
    return campaign_id


def received(capture: Outbox) -> list[str]:
    """Who the capture server received mail for (local parts), sorted."""
    return sorted(parseaddr(entry.to)[1].split("@")[0] for entry in capture.page(1, 50)[0])


def local_hours(app: Flask, campaign_id: int, column: str) -> dict[str, int | None]:
    """Each recipient's delivery time (``retry_at`` or ``sent_at``) as a local hour."""
    with app.app_context():
        rows = db.session.execute(select(Subscriber.name, getattr(Delivery, column)).join(
            Delivery, Delivery.subscriber_id == Subscriber.id).where(Delivery.campaign_id == campaign_id)).all()
        db.session.remove()
    return {name: at.astimezone(TOKYO).hour if at else None for name, at in rows}


def test_each_message_leaves_at_its_readers_hour(moving: Flask, capture: Outbox, moved_workers: Workers) -> None:
    app = moving
    move_to(app, tomorrow_at(6, 30))
    list_id = history(app, {
        "aki": [7] * 5,  # five opens at 7: her own hour
        "ben": [13] * 4 + [20, 21],  # six opens, most at 13
        "chika": [9, 9],  # two: too few, the heatmap's hour
        "dan": [18] * 10,  # the busiest hour of the heatmap
        "eri": [],  # none: the heatmap's hour
        "fumi": [5, 5],  # Apple's prefetch opened at 11, six times: machines never decide
    }, machine_opens={"fumi": [11] * 6})
    client = editor(app)
    campaign_id = start(client, list_id, send_time_optimised=True)
    assert local_hours(app, campaign_id, "retry_at") == {"aki": 7, "ben": 13, "chika": 18, "dan": 18, "eri": 18,
                                                         "fumi": 18}
    day = clock.now().astimezone(TOKYO)
    sent: list[str] = []
    for hour, readers in ((7, ["aki"]), (13, ["ben"]), (18, ["chika", "dan", "eri", "fumi"])):
        assert received(capture) == sent  # nobody before their hour
        move_to(app, day.replace(hour=hour, minute=1))
        sent = sorted(sent + readers)
        wait_until(lambda expected=sent: received(capture) == expected, timeout=30)  # type: ignore[misc]
    wait_until(lambda: local_hours(app, campaign_id, "sent_at") == {
        "aki": 7, "ben": 13, "chika": 18, "dan": 18, "eri": 18, "fumi": 18}, timeout=10)  # each recorded as it left
    wait_until(lambda: status(app, campaign_id) == CampaignStatus.FINISHED, timeout=30)


def status(app: Flask, campaign_id: int) -> CampaignStatus:
    with app.app_context():
        found = db.session.get(Campaign, campaign_id)
        assert found is not None
        db.session.remove()
        return found.status


def test_a_sending_window_holds_the_mail_until_it_opens(moving: Flask, capture: Outbox, moved_workers: Workers) -> None:
    app = moving
    move_to(app, tomorrow_at(21, 30))  # after the window closed
    list_id = history(app, {"aki": [], "ben": []})
    client = editor(app)
    campaign_id = start(client, list_id, send_window_start="09:00", send_window_end="20:00")
    saved = client.get(f"/api/campaigns/{campaign_id}").get_json()["data"]
    assert (saved["send_window_start"], saved["send_window_end"]) == ("09:00", "20:00")
    assert (saved["quiet_start"], saved["quiet_end"]) == ("20:00", "09:00")  # one mechanism: the quiet hours
    morning = (clock.now().astimezone(TOKYO) + timedelta(days=1)).replace(hour=8, minute=59)
    move_to(app, morning)
    wait_until(lambda: local_hours(app, campaign_id, "sent_at") == {"aki": None, "ben": None}, timeout=5)
    assert capture.count() == 0
    move_to(app, morning.replace(hour=9, minute=0, second=30))
    wait_until(lambda: received(capture) == ["aki", "ben"], timeout=30)
    wait_until(lambda: local_hours(app, campaign_id, "sent_at") == {"aki": 9, "ben": 9}, timeout=10)  # recorded


def test_bad_windows_and_optimisation_get_clear_refusals(app: Flask) -> None:
    client = editor(app)
    campaign = client.post("/api/campaigns", json={"name": "窓", "subject": "お知らせ", "content_type": "plain",
                                                   "body": "本文"}).get_json()["data"]
    url = f"/api/campaigns/{campaign['id']}"
    refusals = {  # what each bad input gets
        "window end = start": ({"send_window_start": "09:00", "send_window_end": "09:00"},
                               "A sending window (or quiet hours) cannot end when it starts: 09:00 to 09:00"),
        "quiet end = start": ({"quiet_start": "22:00", "quiet_end": "22:00"}, "cannot end when it starts"),
        "25:00": ({"send_window_start": "25:00", "send_window_end": "20:00"},
                  "send_window_start must be a time such as 22:00."),
        "9:60": ({"send_window_start": "09:00", "send_window_end": "9:60"}, "send_window_end must be a time such as"),
        "a start alone": ({"send_window_start": "09:00"}, "A sending window needs both a start and an end"),
        "optimised in a window of no whole hour": (
            {"send_window_start": "09:30", "send_window_end": "10:15", "send_time_optimised": True},
            "the sending window must hold at least one whole hour"),
        "optimised as a word": ({"send_time_optimised": "yes"}, "send_time_optimised must be true or false."),
    }
    for case, (fields, message) in refusals.items():
        answer = client.put(url, json=fields)
        assert answer.status_code == 400 and message in answer.get_json()["message"], (case, answer.get_json())
    saved = client.put(url, json={"send_window_start": "9:00", "send_window_end": "20:00",
                                  "send_time_optimised": True}).get_json()["data"]
    assert (saved["send_window_start"], saved["send_window_end"], saved["quiet_start"], saved["quiet_end"],
            saved["send_time_optimised"]) == ("09:00", "20:00", "20:00", "09:00", True)
    overnight = client.put(url, json={"send_window_start": "20:00", "send_window_end": "02:00"}).get_json()["data"]
    assert (overnight["quiet_start"], overnight["quiet_end"]) == ("02:00", "20:00")  # a window past midnight
    cleared = client.put(url, json={"send_window_start": "", "send_window_end": "",
                                    "send_time_optimised": False}).get_json()["data"]
    assert (cleared["send_window_start"], cleared["quiet_start"], cleared["send_time_optimised"]) == (None, None, False)


def test_the_heatmap_counts_peoples_opens_and_schedules_a_draft_at_its_best_slot(app: Flask,
                                                                                users: dict[str, str]) -> None:
    history(app, {"aki": [7] * 5, "ben": [7, 13]}, machine_opens={"ben": [22] * 9})
    client = editor(app)
    recent = client.get("/api/campaigns/heatmap").get_json()["data"]
    three_days_ago = (clock.now().astimezone(TOKYO) - timedelta(days=3)).weekday()
    assert recent["total"] == 7 and recent["timezone"] == "Asia/Tokyo"
    assert recent["cells"][three_days_ago][7] == 6 and recent["cells"][three_days_ago][22] == 0  # no machines
    best = recent["best"]
    assert (best["weekday"], best["hour"], best["opens"]) == (three_days_ago, 7, 6)
    next_at = datetime.fromisoformat(best["next_at"]).astimezone(TOKYO)
    assert (next_at.weekday(), next_at.hour, next_at.minute) == (three_days_ago, 7, 0)
    assert timedelta(0) < next_at - clock.now() <= timedelta(days=7)
    with app.app_context():
        past_id = db.session.scalar(select(Campaign.id).where(Campaign.name == "先月号"))
    assert client.get(f"/api/campaigns/{past_id}/heatmap").get_json()["data"]["cells"] == recent["cells"]
    assert client.get("/api/campaigns/999999/heatmap").status_code == 400  # no such campaign
    report = app.test_client()
    login(report, users["viewer"])
    shown_report = report.get(f"/campaigns/{past_id}/report", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "When people opened" in shown_report and "Best slot:" in shown_report
    assert "Schedule at the best slot" not in shown_report  # a viewer schedules nothing

    draft = client.post("/api/campaigns", json={"name": "1月号", "subject": "1月", "content_type": "plain",
                                                "body": "本文", "lists": [1]}).get_json()["data"]
    page = app.test_client()
    login(page, users["admin"])
    shown = page.get("/campaigns/heatmap", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Best slot:" in shown and "Schedule at the best slot" in shown
    token = csrf_token(page, "/campaigns/heatmap")
    refused = page.post("/campaigns/heatmap/schedule", data={"csrf_token": token, "campaign_id": str(past_id)},
                        headers={"Accept-Language": "en"}, follow_redirects=True)
    assert "Only a draft campaign can be scheduled at the best slot" in refused.get_data(as_text=True)
    done = page.post("/campaigns/heatmap/schedule", data={"csrf_token": token, "campaign_id": str(draft["id"])},
                     headers={"Accept-Language": "en"})
    assert done.status_code == 302
    scheduled = client.get(f"/api/campaigns/{draft['id']}").get_json()["data"]
    assert scheduled["status"] == "scheduled"
    assert datetime.fromisoformat(scheduled["send_at"]) == datetime.fromisoformat(best["next_at"])


def test_a_heatmap_without_opens_has_no_best_slot(app: Flask) -> None:
    client = editor(app)
    assert client.get("/api/campaigns/heatmap").get_json()["data"] == {
        "timezone": "Asia/Tokyo", "total": 0, "cells": [[0] * 24] * 7, "best": None}
