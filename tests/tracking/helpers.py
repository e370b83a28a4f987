"""What the tracking tests share: mail clients' user agents, a campaign's tracked links, what was stored."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from core import clock
from core.db import db, utcnow
from lists.models import MailingList, Subscriber, Subscription, SubscriptionStatus, Suppression
from mailer.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from mailer.outbox import Outbox
from tests.helpers import api_user, run_jobs
from tracking.models import Bounce, EventKind, TrackingEvent
from tracking.rollups import rebuild

TOKYO = ZoneInfo("Asia/Tokyo")  # KAIRAN_TIMEZONE's default

GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


APPLE_MPP = "Mozilla/5.0"


BROWSER = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/124.0.0.0 Safari/537.36")

SCANNER = "Barracuda Sentinel (EE)"


READERS = ("gmail", "apple", "scanner", "checker", "person", "early")


Tracked = dict[str, tuple[str, list[str]]]  # reader -> (pixel path, click paths)


def tracked(capture: Outbox) -> Tracked:
    """Each captured message's open pixel and tracked links, by the reader's name."""
    found: Tracked = {}
    for entry in capture.page(1, 50)[0]:
        html = capture.get(entry.key).html or ""  # type: ignore[union-attr]
        pixel = re.search(r'src="http://[^/"]+(/o/[0-9a-f-]+\.gif)"', html)
        assert pixel, entry.to
        found[parseaddr(entry.to)[1].split("@")[0]] = (pixel[1], re.findall(r'href="http://[^/"]+(/c/[0-9a-f-]+)"',
                                                                              html))
    return found


def recorded(app: Flask) -> list[tuple[str, str, bool, str]]:
    """Every stored event as (reader, kind, human, rule), in the order they happened."""
    with app.app_context():
        rows = db.session.execute(select(Subscriber.name, TrackingEvent.kind, TrackingEvent.human, TrackingEvent.rule)
                                  .join(Delivery, Delivery.id == TrackingEvent.delivery_id)
                                  .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                                  .order_by(TrackingEvent.stream_id))
        return [(name, kind.value, human, rule) for name, kind, human, rule in rows]


def bounces(app: Flask) -> list[tuple[str, str, str, int | None, bool]]:
    """Every stored bounce: (email, type, source, delivery id, sender_refused)."""
    with app.app_context():
        return [(b.email, b.type.value, b.source, b.delivery_id, b.sender_refused)
                for b in db.session.scalars(select(Bounce).order_by(Bounce.id))]


def suppressed(app: Flask) -> dict[str, str]:
    """Suppressed address → reason."""
    with app.app_context():
        return {s.value: s.reason.value for s in db.session.scalars(select(Suppression))}


def send_to_readers(app: Flask, client: FlaskClient, readers: Iterable[str], **campaign: str) -> int:
    """A campaign really sent through the API (RQ worker, capture SMTP server) to ``<name>@example.jp`` for each
    name in ``readers``, subscribed to a new list; ``campaign`` adds to or overrides its fields. Its id."""
    headers = {"Authorization": f"token {api_user(app, 'admin', 'boss')}"}
    list_id = client.post("/api/lists", headers=headers, json={"name": "お知らせ"}).get_json()["data"]["id"]
    for name in readers:
        client.post("/api/subscribers", headers=headers, json={
            "email": f"{name}@example.jp", "name": name, "lists": [list_id], "preconfirm_subscriptions": True})
    campaign_id: int = client.post("/api/campaigns", headers=headers, json={
        "name": "お知らせ", "subject": "お知らせ", "content_type": "html", "lists": [list_id], **campaign,
    }).get_json()["data"]["id"]
    client.put(f"/api/campaigns/{campaign_id}/status", headers=headers, json={"status": "running"})
    run_jobs(app)
    return campaign_id


def send_tracked_campaign(app: Flask, client: FlaskClient, capture: Outbox) -> Tracked:
    """A campaign with two links sent to one reader per behaviour; each reader's pixel and link paths.

    Every delivery but early@'s went out an hour ago, so only early@'s clicks come right after delivery.
    """
    send_to_readers(app, client, READERS, name="計測", body='<p><a href="https://shop.example.jp/sale">セール</a> '
                    '<a href="https://shop.example.jp/新着?色=赤">新着</a></p>')
    with app.app_context():
        early = select(Subscriber.id).where(Subscriber.email == "early@example.jp").scalar_subquery()
        db.session.execute(update(Delivery).where(Delivery.subscriber_id != early)
                           .values(sent_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    return tracked(capture)


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
