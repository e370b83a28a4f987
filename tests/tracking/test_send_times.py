"""When to send, end to end: a real worker, the capture SMTP server, and the clock moved.

- Send-time optimisation: readers with at least five human opens (and clicks) get their own hour; the others get
  the open-time heatmap's busiest hour; machines' opens count for nothing. Each message leaves at its hour.
- A sending window holds the mail until it opens (the campaign's quiet hours, the other way round).
- The heatmap (API and page) and its best slot; bad inputs and what each gets.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core import clock
from core.db import db
from lists.models import MailingList, Subscriber, Subscription, SubscriptionStatus
from mailer.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from mailer.outbox import Outbox
from tests.helpers import api_user, wait_until
from tests.mailer.helpers import Workers
from tracking.models import EventKind, TrackingEvent
from tracking.rollups import rebuild

TOKYO = ZoneInfo("Asia/Tokyo")  # KAIRAN_TIMEZONE's default


@pytest.fixture
def workers(moving: Flask, settings_env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    """One real worker on the moved clock, queueing again every second what fell due."""
    pool = Workers({**settings_env, "KAIRAN_SECRET_KEY": moving.config["SECRET_KEY"], "KAIRAN_MOVABLE_CLOCK": "true",
                    "KAIRAN_RECONCILE_SECONDS": "1"}, tmp_path)
    pool.start()
    yield pool
    pool.stop_all()


def move_to(app: Flask, local: datetime) -> None:
    """Move every clock of the installation to this local time."""
    clock.move(app.config["KAIRAN"].redis_url, local - clock.now())


def tomorrow_at(hour: int, minute: int = 0) -> datetime:
    """Tomorrow's local time (always ahead of now: the clock only moves on)."""
    day = clock.now().astimezone(TOKYO) + timedelta(days=1)
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0)


def history(app: Flask, opens: dict[str, list[int]], machine_opens: dict[str, list[int]] | None = None) -> int:
    """Subscribers on one list, each with an earlier campaign's message opened at these local hours (by people;
    ``machine_opens``: by Apple's prefetch) three days ago; the rollups built from them. Return the list's id."""
    with app.app_context():
        mailing_list = MailingList(name="お知らせ")
        past = Campaign(name="先月号", subject="先月号", body="", status=CampaignStatus.FINISHED, lists=[], tags=[],
                        headers=[])
        db.session.add_all([mailing_list, past])
        db.session.flush()
        day = clock.now().astimezone(TOKYO) - timedelta(days=3)
        number = 0
        for name, own in opens.items():
            subscriber = Subscriber(email=f"{name}@example.jp", email_key=f"{name}@example.jp", name=name, attribs={})
            db.session.add(subscriber)
            db.session.flush()
            db.session.add(Subscription(subscriber_id=subscriber.id, list_id=mailing_list.id,
                                        status=SubscriptionStatus.CONFIRMED))
            delivery = Delivery(campaign_id=past.id, subscriber_id=subscriber.id, domain="example.jp",
                                status=DeliveryStatus.SENT)
            db.session.add(delivery)
            db.session.flush()
            for human, hours in ((True, own), (False, (machine_opens or {}).get(name, []))):
                for minute, hour in enumerate(hours):
                    number += 1
                    db.session.add(TrackingEvent(
                        stream_id=f"{number}-0", campaign_id=past.id, delivery_id=delivery.id, kind=EventKind.OPEN,
                        at=day.replace(hour=hour, minute=minute * 7 % 60), human=human,
                        rule="person" if human else "apple_mpp"))
        db.session.flush()
        rebuild([past.id])
        db.session.commit()
        return mailing_list.id


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


def test_each_message_leaves_at_its_readers_hour(moving: Flask, capture: Outbox, workers: Workers) -> None:
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


def test_a_sending_window_holds_the_mail_until_it_opens(moving: Flask, capture: Outbox, workers: Workers) -> None:
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
