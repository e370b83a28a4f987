"""tracking.bounces.record: real bounce messages, parsed, stored and acted on in a real database.

What each input gets:
- a hard bounce (5.1.1) or a complaint: stored, tied to its delivery, the address suppressed at once;
- a soft bounce: stored; the address is suppressed only at KAIRAN_SOFT_BOUNCES within the window
  (carrier addresses at KAIRAN_CARRIER_SOFT_BOUNCES, over a longer window);
- a refusal because of the sender (DMARC): stored as soft with sender_refused, the campaign gets a
  notice, the recipient is never suppressed and it never counts towards the soft threshold;
- a forged VERP token: ignored (the bounce is tied by Message-ID or address instead, never to the
  delivery the forged token names);
- the same report from two sources: stored once;
- an unreadable message: nothing stored as a bounce, the raw bytes kept in unread_mail;
- an auto-reply: nothing stored.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from core.db import db, utcnow
from lists.models import Suppression, SuppressionReason
from lists.suppressions import is_suppressed
from mailer.models import Campaign
from tests.tracking.bounce_mail import backdate, complaint, dsn, sent_campaign, verp
from tracking.bounce_parser import parse
from tracking.bounces import record
from tracking.models import Bounce, BounceType, UnreadMail

DMARC = "550 5.7.26 Unauthenticated email from kairan.example is not accepted due to domain's DMARC policy"
FULL = "452 4.2.2 The email account that you tried to reach is over quota"


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    return {**settings_env, "KAIRAN_SOFT_BOUNCES": "3", "KAIRAN_SOFT_BOUNCE_DAYS": "7",
            "KAIRAN_CARRIER_SOFT_BOUNCES": "2", "KAIRAN_CARRIER_SOFT_BOUNCE_DAYS": "30"}


def bounces() -> list[Bounce]:
    db.session.expire_all()
    return list(db.session.scalars(select(Bounce).order_by(Bounce.id)))


def suppression_reason(address: str) -> SuppressionReason | None:
    return db.session.scalar(select(Suppression.reason).where(Suppression.value == address))


def test_a_hard_bounce_is_tied_by_its_verp_token_and_suppresses_at_once(ctx: None) -> None:
    gone = sent_campaign(["Gone@example.jp"])["Gone@example.jp"]
    # The receiver names a forwarding address; the delivery's own recipient is who bounced.
    stored = record(parse(dsn("forwarded@elsewhere.example", token=verp(gone))), "smtp")
    [bounce] = bounces()
    assert [b.id for b in stored] == [bounce.id]
    assert (bounce.email, bounce.type, bounce.source, bounce.status) == ("gone@example.jp", BounceType.HARD, "smtp",
                                                                         "5.1.1")
    assert (bounce.delivery_id, bounce.campaign_id, bounce.subscriber_id) == (gone.id, gone.campaign_id,
                                                                              gone.subscriber_id)
    assert "User unknown" in bounce.diagnostic and bounce.meta == {"rule": "rfc3464"}
    assert suppression_reason("gone@example.jp") == SuppressionReason.HARD_BOUNCE


def test_a_bounce_without_a_token_is_tied_by_the_returned_message_id(ctx: None) -> None:
    gone = sent_campaign(["gone@example.jp"])["gone@example.jp"]
    record(parse(dsn("gone@example.jp", message_id=gone.message_id)), "imap")
    [bounce] = bounces()
    assert (bounce.delivery_id, bounce.campaign_id, bounce.source) == (gone.id, gone.campaign_id, "imap")


def test_a_forged_token_is_ignored_and_never_names_another_delivery(ctx: None) -> None:
    sent = sent_campaign(["gone@example.jp", "innocent@example.jp"])
    innocent = sent["innocent@example.jp"]
    forged = verp(innocent)[:-1] + ("0" if verp(innocent)[-1] != "0" else "1")  # the signature altered
    record(parse(dsn("gone@example.jp", token=forged)), "smtp")
    [bounce] = bounces()
    # Tied by the address the report names, to no delivery: the forged token named innocent@'s.
    assert (bounce.email, bounce.delivery_id, bounce.campaign_id) == ("gone@example.jp", None, None)
    assert bounce.subscriber_id == sent["gone@example.jp"].subscriber_id
    assert not is_suppressed("innocent@example.jp")


def test_the_same_report_from_two_sources_is_stored_once(ctx: None) -> None:
    gone = sent_campaign(["gone@example.jp"])["gone@example.jp"]
    assert len(record(parse(dsn("gone@example.jp", token=verp(gone))), "smtp")) == 1
    assert record(parse(dsn("gone@example.jp", message_id=gone.message_id)), "imap") == []
    assert [(b.source, b.type) for b in bounces()] == [("smtp", BounceType.HARD)]
    assert db.session.scalar(select(func.count(Suppression.id))) == 1


def test_a_complaint_suppresses_at_once_and_counts_as_a_complaint(ctx: None) -> None:
    angry = sent_campaign(["angry@example.jp"])["angry@example.jp"]
    record(parse(complaint("angry@example.jp", token=verp(angry))), "smtp")
    [bounce] = bounces()
    assert (bounce.type, bounce.diagnostic, bounce.delivery_id) == (BounceType.COMPLAINT, "abuse", angry.id)
    assert suppression_reason("angry@example.jp") == SuppressionReason.COMPLAINT


def test_soft_bounces_suppress_only_at_the_threshold_within_the_window(ctx: None) -> None:
    full = "full@example.jp"
    for number in range(2):
        delivery = sent_campaign([full], name=f"第{number}号")[full]
        record(parse(dsn(full, status="4.2.2", diagnostic=FULL, token=verp(delivery))), "smtp")
    assert not is_suppressed(full)  # two of three
    backdate(utcnow() - timedelta(days=8))  # both fall out of the 7-day window
    delivery = sent_campaign([full], name="第3号")[full]
    record(parse(dsn(full, status="4.2.2", diagnostic=FULL, token=verp(delivery))), "smtp")
    assert not is_suppressed(full)  # one within the window
    for number in (4, 5):
        delivery = sent_campaign([full], name=f"第{number}号")[full]
        record(parse(dsn(full, status="4.2.2", diagnostic=FULL, token=verp(delivery))), "smtp")
    assert suppression_reason(full) == SuppressionReason.HARD_BOUNCE  # three within the window
    assert {b.type for b in bounces()} == {BounceType.SOFT}


def test_carrier_addresses_are_suppressed_sooner_and_over_a_longer_window(ctx: None) -> None:
    carrier, other = "taro@docomo.ne.jp", "taro@example.jp"
    for number in range(2):
        sent = sent_campaign([carrier, other], name=f"第{number}号")
        for address in (carrier, other):
            record(parse(dsn(address, status="4.2.2", diagnostic=FULL, token=verp(sent[address]))), "smtp")
        if number == 0:
            backdate(utcnow() - timedelta(days=20))  # outside 7 days, inside the carriers' 30
    assert suppression_reason(carrier) == SuppressionReason.HARD_BOUNCE
    assert not is_suppressed(other)


def test_a_quoted_legacy_carrier_address_is_matched_to_its_subscriber(ctx: None) -> None:
    legacy = "taro..x.@docomo.ne.jp"
    delivery = sent_campaign([legacy])[legacy]
    record(parse(dsn(f'"{legacy[:-len("@docomo.ne.jp")]}"@docomo.ne.jp', token=verp(delivery))), "pop3")
    [bounce] = bounces()
    assert bounce.email == legacy and bounce.subscriber_id is not None
    assert suppression_reason(legacy) == SuppressionReason.HARD_BOUNCE


def test_a_refusal_because_of_the_sender_notifies_the_campaign_and_never_suppresses(ctx: None) -> None:
    reader = "reader@gmail.com"
    for number in range(4):  # more than the soft threshold
        delivery = sent_campaign([reader], name=f"第{number}号")[reader]
        record(parse(dsn(reader, status="5.7.26", diagnostic=DMARC, token=verp(delivery))), "smtp")
    stored = bounces()
    assert len(stored) == 4 and all(b.sender_refused and b.type == BounceType.SOFT for b in stored)
    assert not is_suppressed(reader)
    notice = db.session.get(Campaign, stored[-1].campaign_id).notice  # type: ignore[union-attr]
    assert notice and "5.7.26" in notice and "DMARC" in notice


def test_an_unreadable_message_is_kept_raw_and_stores_no_bounce(ctx: None) -> None:
    raw = b"\x00\xff not a message at all"
    assert record(parse(raw), "smtp", raw=raw) == []
    [unread] = db.session.scalars(select(UnreadMail)).all()
    assert (unread.source, unread.raw) == ("smtp", raw) and "no headers" in unread.reason
    assert bounces() == []


def test_an_auto_reply_stores_nothing(ctx: None, app: Flask) -> None:
    reply = (b"From: taro@example.jp\r\nTo: bounce+1-0123456789abcdef@bounce.kairan.example\r\n"
             b"Subject: =?UTF-8?B?5LiN5Zyo?= Out of office\r\nAuto-Submitted: auto-replied\r\n\r\n"
             b"I am away until Monday.\r\n")
    assert record(parse(reply), "smtp", raw=reply) == []
    assert bounces() == [] and db.session.scalar(select(func.count(UnreadMail.id))) == 0
