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
                      # send-time optimisation reads a reader's opens and clicks (human, at) from this index alone
                      Index("ix_tracking_events_delivery_kind", "delivery_id", "kind", "human", "at"),
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


# Rollups: per-campaign counters the report reads instead of millions of deliveries and events. The
# flusher adds to them in the transaction that stores events (tracking/rollups.py), and
# ``rollups.rebuild`` computes them afresh from the raw rows (``flask tracking reclassify``).


class CampaignHourly(db.Model):  # type: ignore[name-defined]
    """Opens and clicks of one campaign in one UTC hour, people's and machines' apart (events, not deliveries)."""

    __tablename__ = "campaign_hourly"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    opens: Mapped[int] = mapped_column(BigInteger, default=0)
    machine_opens: Mapped[int] = mapped_column(BigInteger, default=0)
    clicks: Mapped[int] = mapped_column(BigInteger, default=0)
    machine_clicks: Mapped[int] = mapped_column(BigInteger, default=0)


class CampaignTotals(db.Model):  # type: ignore[name-defined]
    """One campaign's deliveries opened and clicked (by people; only by machines), and events naming nobody.

    opened and clicked count deliveries whose first_open_at (first_click_at) is set; machine_opened
    (machine_clicked) those with a machine's open (click) and no person's; anonymous_* count events
    stored with individual tracking off, by kind and person or machine.
    """

    __tablename__ = "campaign_totals"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    opened: Mapped[int] = mapped_column(BigInteger, default=0)
    clicked: Mapped[int] = mapped_column(BigInteger, default=0)
    machine_opened: Mapped[int] = mapped_column(BigInteger, default=0)
    machine_clicked: Mapped[int] = mapped_column(BigInteger, default=0)
    anonymous_opens: Mapped[int] = mapped_column(BigInteger, default=0)
    anonymous_machine_opens: Mapped[int] = mapped_column(BigInteger, default=0)
    anonymous_clicks: Mapped[int] = mapped_column(BigInteger, default=0)
    anonymous_machine_clicks: Mapped[int] = mapped_column(BigInteger, default=0)


class CampaignLink(db.Model):  # type: ignore[name-defined]
    """One tracked link's clicks by people, the deliveries (people) that clicked it, and machines' clicks."""

    __tablename__ = "campaign_links"

    link_id: Mapped[int] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    clicks: Mapped[int] = mapped_column(BigInteger, default=0)
    clickers: Mapped[int] = mapped_column(BigInteger, default=0)  # + each click naming nobody
    machine_clicks: Mapped[int] = mapped_column(BigInteger, default=0)


class CampaignClient(db.Model):  # type: ignore[name-defined]
    """People's opens of one campaign per mail client (``field`` client) or device (``field`` device)."""

    __tablename__ = "campaign_clients"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    field: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    opens: Mapped[int] = mapped_column(BigInteger, default=0)


class CampaignDomain(db.Model):  # type: ignore[name-defined]
    """Deliveries of one campaign to one receiving domain that a person opened, and clicked.

    Recipients and sent per domain come from deliveries' (campaign_id, status, domain) index instead:
    the send path changes them a message at a time.
    """

    __tablename__ = "campaign_domains"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    opened: Mapped[int] = mapped_column(BigInteger, default=0)
    clicked: Mapped[int] = mapped_column(BigInteger, default=0)


class CampaignAudience(db.Model):  # type: ignore[name-defined]
    """A started campaign's deliveries per receiving domain (``''``: none), counted once.

    The audience is fixed when a campaign starts and a delivery keeps its domain, so these never
    change: a running campaign's report takes its largest state (sent; queued early on) as these minus
    the other states, and reads only those from the index (tracking/metric_queries.py).
    """

    __tablename__ = "campaign_audience"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    deliveries: Mapped[int] = mapped_column(BigInteger)


class Conversion(db.Model):  # type: ignore[name-defined]
    """A conversion event (a purchase) attributed to the message that brought it, and the revenue it added.

    Written by automations' attribution (automations/conversions.py), which reads the events; read by the report.
    One row per event at most. Like deliveries, a row outlives its subscriber (and so its event): the campaign
    keeps what it earned after a privacy wipe. ``amount`` is in the currency's minor units (yen, cents), an exact
    integer that both databases sum exactly (SQLite has no decimal type); NULL when the event added no revenue,
    with ``problem`` saying why when its amount or currency could not be read.
    """

    __tablename__ = "conversions"
    __table_args__ = (Index("ix_conversions_campaign_delivery", "campaign_id", "delivery_id"),)

    id: Mapped[int] = mapped_column(EVENT_ID, primary_key=True)
    event_id: Mapped[int] = mapped_column(BigInteger, unique=True)  # automations' events.id (ids are never reused)
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="SET NULL"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    delivery_id: Mapped[int]  # no foreign key, as deliveries have none; they go with their campaign
    run_id: Mapped[int] = mapped_column(BigInteger, default=0)  # the automation run the message was sent for; 0: none
    via: Mapped[str] = mapped_column(String(10))  # click (the last click by a person) or parameter (kairan_c)
    at: Mapped[datetime]  # when the event occurred
    amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    problem: Mapped[str | None] = mapped_column(String(40))  # why an amount added no revenue (tracking/revenue.py)


class ConversionCursor(db.Model):  # type: ignore[name-defined]
    """How far attribution has looked through the events: one row, its event id (ids only grow)."""

    __tablename__ = "conversion_cursor"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(BigInteger, default=0)
