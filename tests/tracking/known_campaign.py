"""A finished campaign whose every figure is known by hand: deliveries, events through the flusher, bounces."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Flask

from core.db import db
from lists.models import MailingList, Subscriber
from mailer.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Link
from tests.tracking.helpers import APPLE_MPP, BROWSER, GMAIL_PROXY, SCANNER
from tracking.event_batch import Incoming, store_batch
from tracking.models import Bounce, BounceType, Conversion, EventKind

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)  # the send started; the timeline's first hour is 09:00
SALE, NEW = "https://shop.example.jp/sale", "https://shop.example.jp/new"
# reader -> (address, delivery status)
READERS = {
    "a": ("a@gmail.com", "sent"),  # opens through Gmail's proxy
    "b": ("b@icloud.com", "sent"),  # only Apple's prefetch: a machine open
    "c": ("c@docomo.ne.jp", "sent"),  # hard bounce
    "d": ("d@gmail.com", "sent"),  # soft bounce
    "e": ("e@example.jp", "sent"),  # refused because of the sender: soft, for the delivery metrics
    "f": ("f@example.jp", "failed"),  # refused at SMTP time
    "g": ("g@gmail.com", "sent"),  # clicks with images blocked: no open event, still an open
    "h": ("h@example.jp", "sent"),  # a scanner clicks both links: machine clicks
    "i": ("i@icloud.com", "sent"),  # opens on day 3, then unsubscribes through the message's link
    "j": ("j@gmail.com", "sent"),  # opens, then complains
    "k": ("k@example.jp", "queued"),  # not sent yet
    "l": ("l@example.jp", "sent"),  # Apple's prefetch, then a real open: a person's open only
}


@dataclass
class Built:
    campaign_id: int
    deliveries: dict[str, int]
    links: dict[str, int]


def build(app: Flask) -> Built:
    """Store the campaign, its deliveries, events (through the flusher), bounces; no unsubscribe yet."""
    with app.app_context():
        mailing = MailingList(name="お知らせ")
        db.session.add(mailing)
        db.session.flush()
        campaign = Campaign(name="三月号", subject="三月のお知らせ", lists=[mailing.id], status=CampaignStatus.FINISHED,
                            started_at=T0)
        db.session.add(campaign)
        db.session.flush()
        deliveries = {}
        for name, (email, status) in READERS.items():
            subscriber = Subscriber(email=email, email_key=email, name=name, attribs={})
            db.session.add(subscriber)
            db.session.flush()
            delivery = Delivery(campaign_id=campaign.id, subscriber_id=subscriber.id, status=DeliveryStatus(status),
                                sent_at=T0 if status == "sent" else None)
            db.session.add(delivery)
            db.session.flush()
            deliveries[name] = delivery.id
        links = {}
        for url in (SALE, NEW):
            link = Link(campaign_id=campaign.id, url=url)
            db.session.add(link)
            db.session.flush()
            links[url] = link.id
        db.session.commit()
        events = [("a", EventKind.OPEN, None, GMAIL_PROXY, 10), ("b", EventKind.OPEN, None, APPLE_MPP, 2),
                  ("g", EventKind.CLICK, SALE, BROWSER, 5 * 60), ("h", EventKind.CLICK, SALE, SCANNER, 60),
                  ("h", EventKind.CLICK, NEW, SCANNER, 60), ("i", EventKind.OPEN, None, BROWSER, 60 * 60),
                  ("j", EventKind.OPEN, None, GMAIL_PROXY, 60), ("l", EventKind.OPEN, None, APPLE_MPP, 3),
                  ("l", EventKind.OPEN, None, GMAIL_PROXY, 120)]
        store_batch([Incoming(kind=kind, delivery_id=deliveries[who], link_id=links[url] if url else None,
                          user_agent=ua, ip="192.0.2.1", head=False, prefetch=False,
                          stream_id=f"{1000 + n}-0", at=T0 + timedelta(minutes=minutes))
                 for n, (who, kind, url, ua, minutes) in enumerate(events)], app.config["KAIRAN"].tracking)
        for n, (who, kind, refused) in enumerate([("c", BounceType.HARD, False), ("d", BounceType.SOFT, False),
                                                  ("e", BounceType.SOFT, True), ("j", BounceType.COMPLAINT, False)]):
            db.session.add(Bounce(email=READERS[who][0], campaign_id=campaign.id, delivery_id=deliveries[who],
                                  type=kind, sender_refused=refused, source="smtp", status=f"5.{n}.1",
                                  diagnostic=f"={who} said no", meta={},
                                  created_at=T0 + timedelta(hours=1, minutes=n)))
        # Conversions as automations' attribution writes them (tests/automations/test_conversions.py tests that):
        # g bought for 3,980 yen after their click, and again with an amount that is no number; a's shop sent back
        # a's kairan_c with a purchase in dollars.
        for n, (who, via, amount, currency, problem) in enumerate([
                ("g", "click", 3980, "JPY", None), ("g", "click", None, "JPY", "amount_not_a_number"),
                ("a", "parameter", 1999, "USD", None)]):
            db.session.add(Conversion(event_id=n + 1, subscriber_id=None, campaign_id=campaign.id,
                                      delivery_id=deliveries[who], via=via, at=T0 + timedelta(days=1, hours=n),
                                      amount=amount, currency=currency, problem=problem))
        db.session.commit()
        return Built(campaign.id, deliveries, links)
