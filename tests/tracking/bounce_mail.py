"""Small, real bounce messages for tests: an RFC 3464 DSN and an RFC 5965 complaint, around a VERP token.

Built here rather than read from the sample corpus, so each test says exactly what the receiver
reported and the tests run where the corpus is absent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from core.db import db, utcnow
from core.tokens import Mark, mark_token
from lists.models import Subscriber
from mailer.models import Campaign, ContentType, Delivery, DeliveryStatus
from tracking.models import Bounce

BOUNCE_DOMAIN = "bounce.kairan.example"


def dsn(recipient: str, status: str = "5.1.1", diagnostic: str = "550 5.1.1 <{r}>: Recipient address rejected: "
        "User unknown in virtual mailbox table", token: str | None = None, message_id: str | None = None,
        delayed: bool = False) -> bytes:
    """A Postfix-style delivery status notification about one recipient (a final failure, or a delay warning)."""
    to = f"bounce+{token}@{BOUNCE_DOMAIN}" if token else f"news@{BOUNCE_DOMAIN}"
    action = "delayed" if delayed else "failed"
    returned = (f"Return-Path: <{to}>\r\nFrom: news@kairan.example\r\nTo: {recipient}\r\n"
                + (f"Message-ID: <{message_id.strip('<>')}>\r\n" if message_id else "") + "Subject: Newsletter\r\n")
    return (
        "From: MAILER-DAEMON@mx.example.jp (Mail Delivery System)\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        f"\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.jp\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic.format(r=recipient)}\r\n"
        f"\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n{returned}"
        "\r\n--B--\r\n"
    ).encode()


def complaint(recipient: str, token: str | None = None, message_id: str | None = None) -> bytes:
    """An ARF abuse report (RFC 5965), as a mailbox provider's feedback loop sends it."""
    to = f"bounce+{token}@{BOUNCE_DOMAIN}" if token else f"fbl@{BOUNCE_DOMAIN}"
    original = (f"Return-Path: <{to}>\r\nFrom: news@kairan.example\r\nTo: {recipient}\r\n"
                + (f"Message-ID: <{message_id.strip('<>')}>\r\n" if message_id else "")
                + "Subject: Newsletter\r\n\r\nHello\r\n")
    return (
        "From: feedback@fbl.example.net\r\n"
        f"To: {to}\r\n"
        "Subject: Abuse report\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\r\n'
        "\r\n--F\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n"
        "\r\n--F\r\nContent-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: abuse\r\nUser-Agent: FBL/1.0\r\nVersion: 1\r\nOriginal-Rcpt-To: {recipient}\r\n"
        f"\r\n--F\r\nContent-Type: message/rfc822\r\n\r\n{original}"
        "\r\n--F--\r\n"
    ).encode()


def sent_campaign(addresses: list[str], name: str = "11月号") -> dict[str, Delivery]:
    """A campaign sent to these addresses (one subscriber each): its deliveries by address, each with a Message-ID."""
    campaign = Campaign(name=name, subject="お知らせ", content_type=ContentType.PLAIN, body="本文", lists=[],
                        from_email="news@kairan.example")
    db.session.add(campaign)
    db.session.flush()
    found: dict[str, Delivery] = {}
    for address in addresses:
        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email_key == address.casefold()))
        if subscriber is None:
            subscriber = Subscriber(email=address, email_key=address.casefold(), name=address.split("@")[0],
                                    attribs={})
            db.session.add(subscriber)
            db.session.flush()
        delivery = Delivery(campaign_id=campaign.id, subscriber_id=subscriber.id, status=DeliveryStatus.SENT,
                            sent_at=utcnow(), message_id=f"<{campaign.id}.{subscriber.id}.x@kairan.example>")  # as sent
        db.session.add(delivery)
        found[address] = delivery
    db.session.commit()
    return found


def verp(delivery: Delivery) -> str:
    """The signed VERP token of a delivery's return path, as the send path makes it."""
    return mark_token(Mark.BOUNCE, delivery.id)


def backdate(when: datetime) -> None:
    """Move every stored bounce to a time in the past (outside a soft-bounce window, say)."""
    db.session.execute(update(Bounce).values(created_at=when))
    db.session.commit()
