"""Fixing a campaign's audience: exactly who listmonk's rules say, once each."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.db import db
from lists.models import ConsentMethod, SubscriptionStatus
from lists.services import create_list
from lists.subscribers import Consent, create_subscriber, set_subscription_status
from lists.suppressions import add_suppression
from mailer.models import Campaign, Delivery, DeliveryStatus
from mailer.queries import materialise

pytestmark = pytest.mark.usefixtures("ctx")
ADMIN = Consent(ConsentMethod.ADMIN)


def person(email: str, lists: list[int], *, confirmed: bool = False, status: str = "enabled",
           city: str = "大阪") -> int:
    return create_subscriber({"email": email, "lists": lists, "preconfirm_subscriptions": confirmed,
                              "status": status, "attribs": {"city": city}}, ADMIN).id


def test_materialise_picks_each_intended_recipient_once() -> None:
    single = create_list({"name": "お知らせ", "optin": "single"})
    double = create_list({"name": "会員限定", "optin": "double"})
    both = [single.id, double.id]
    expected = {
        person("alice@example.jp", both, confirmed=True),  # on both lists: one delivery
        person("bob@example.jp", [single.id]),  # unconfirmed on a single opt-in list: receives
        person("ivan@example.jp", [double.id], confirmed=True, city="東京"),
        person("Kana@Example.JP", [single.id]),  # found by its case-folded address like everyone
    }
    person("carol@example.jp", [double.id])  # unconfirmed on a double opt-in list
    dave = create_subscriber({"email": "dave@example.jp", "lists": both}, ADMIN)
    set_subscription_status(dave, [single, double], SubscriptionStatus.UNSUBSCRIBED, ADMIN)
    person("eve@example.jp", both, confirmed=True, status="blocklisted")
    person("frank@example.jp", both, confirmed=True, status="disabled")
    person("grace@suppressed.example", both, confirmed=True)
    person("heidi@example.jp", both, confirmed=True)
    add_suppression("suppressed.example", "manual", "test")  # a whole domain
    add_suppression("HEIDI@example.jp", "complaint", "test")  # an address, however it is written
    db.session.commit()
    campaign = Campaign(name="11月号", subject="お知らせ", lists=both)
    db.session.add(campaign)
    db.session.flush()

    assert materialise(campaign.id, both) == len(expected)
    db.session.commit()
    rows = db.session.execute(select(Delivery.subscriber_id, Delivery.status)
                              .where(Delivery.campaign_id == campaign.id)).all()
    assert {subscriber for subscriber, _status in rows} == expected and len(rows) == len(expected)
    assert {status for _subscriber, status in rows} == {DeliveryStatus.QUEUED}

    # A segment narrows the same audience.
    segment_campaign = Campaign(name="大阪だけ", subject="お知らせ", lists=both)
    db.session.add(segment_campaign)
    db.session.flush()
    rules = {"match": "all", "rules": [{"field": "attribs.city", "op": "eq", "value": "大阪"}]}
    assert materialise(segment_campaign.id, both, rules) == len(expected) - 1  # not ivan in 東京


def test_a_second_materialise_of_one_campaign_is_refused_by_the_database() -> None:
    """Exactly once holds even if two starts race past the status check: the unique
    (subscriber_id, campaign_id) index refuses a second delivery of a campaign to one subscriber."""
    mailing = create_list({"name": "お知らせ", "optin": "single"})
    person("alice@example.jp", [mailing.id])
    campaign = Campaign(name="11月号", subject="お知らせ", lists=[mailing.id])
    db.session.add(campaign)
    db.session.flush()
    assert materialise(campaign.id, [mailing.id]) == 1
    db.session.commit()

    with pytest.raises(IntegrityError):
        materialise(campaign.id, [mailing.id])
    db.session.rollback()
    assert db.session.scalar(select(func.count()).where(Delivery.campaign_id == campaign.id)) == 1
