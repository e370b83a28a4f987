"""Opens and clicks as recorded events: who (unless individual tracking is off), when, and person or machine."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import db, str_enum

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
                      Index("ix_tracking_events_delivery_kind", "delivery_id", "kind"))

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
