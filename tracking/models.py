"""Opens and clicks as recorded events: who (unless individual tracking is off), when, and person or machine."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import db, str_enum, utcnow

# SQLite's rowid alias must be INTEGER; PostgreSQL gets 64 bits (a busy installation passes 2^31 events).
EVENT_ID = BigInteger().with_variant(Integer(), "sqlite")


class EventKind(StrEnum):
    """What the reader's mail client did: loaded the pixel, or followed a link."""

    OPEN = "open"
    CLICK = "click"


class TrackingEvent(db.Model):  # type: ignore[name-defined]
    """One pixel load or click, flushed from the Redis stream (tracking/flush.py).

    It keeps what the rules in tracking/classify.py look at (UA, method, prefetch header, IP as
    KAIRAN_TRACK_IP says), so ``flask tracking reclassify`` can run changed rules over history.
    With KAIRAN_TRACK_INDIVIDUALS off, delivery_id, user_agent and ip stay empty.
    """

    __tablename__ = "tracking_events"
    __table_args__ = (Index("ix_tracking_events_campaign_kind_at", "campaign_id", "kind", "at"),
                      Index("ix_tracking_events_delivery_kind", "delivery_id", "kind"),
                      # the report's hourly timeline reads only this index (tracking/metric_queries.py)
                      Index("ix_tracking_events_campaign_kind_human_at", "campaign_id", "kind", "human", "at"))

    id: Mapped[int] = mapped_column(EVENT_ID, primary_key=True)
    stream_id: Mapped[str] = mapped_column(String(41), unique=True)  # the Redis entry: flushing it twice adds nothing
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    link_id: Mapped[int | None] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"), index=True)
    kind: Mapped[EventKind] = mapped_column(str_enum(EventKind))
    at: Mapped[datetime]
    user_agent: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(45))  # truncated network or keyed hash (KAIRAN_TRACK_IP)
    head: Mapped[bool] = mapped_column(default=False)  # a HEAD request: a link checker, never a person
    prefetch: Mapped[bool] = mapped_column(default=False)  # Purpose/Sec-Purpose: prefetch
    client: Mapped[str | None] = mapped_column(String(100))  # mail client or browser, from ua-parser
    device: Mapped[str | None] = mapped_column(String(100))  # device, or the OS when ua-parser names no device
    human: Mapped[bool]
    rule: Mapped[str] = mapped_column(String(40))  # the classify.py rule that decided


class BounceType(StrEnum):
    """listmonk's bounce types: a hard bounce and a complaint suppress at once, soft ones after a count."""

    HARD = "hard"
    SOFT = "soft"
    COMPLAINT = "complaint"


class Bounce(db.Model):  # type: ignore[name-defined]
    """One bounce or complaint about one recipient, from whichever source reported it (tracking/bounces.py).

    A refusal because of the sender (DMARC, a blocklisted sending IP) is kept as a soft bounce with
    ``sender_refused`` set: the message did not arrive, but the recipient is never suppressed for it.
    """

    __tablename__ = "bounces"
    __table_args__ = (Index("ix_bounces_campaign_type", "campaign_id", "type"),
                      Index("ix_bounces_email_created", "email", "created_at"),
                      # One bounce of a type per delivery, even when two sources report it at the same moment
                      # (untied bounces have no delivery: NULLs never collide).
                      UniqueConstraint("delivery_id", "type"))

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))  # case-folded, as Subscriber.email_key
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="SET NULL"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id", ondelete="SET NULL"))
    type: Mapped[BounceType] = mapped_column(str_enum(BounceType))
    sender_refused: Mapped[bool] = mapped_column(default=False)
    source: Mapped[str] = mapped_column(String(40))  # smtp, imap, pop3, ses, sendgrid, postmark, mailgun, api
    status: Mapped[str] = mapped_column(String(20), default="")  # RFC 3463 code as reported, e.g. 5.1.1
    diagnostic: Mapped[str] = mapped_column(Text, default="")  # the receiver's words, as reported
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # listmonk's free-form meta
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class UnreadMail(db.Model):  # type: ignore[name-defined]
    """An inbound message intake could not read (malformed, or over the size cap): kept raw for a person to see."""

    __tablename__ = "unread_mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)  # at most the intake's size cap
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
