"""Customer events: what a shop or an app says a subscriber did (a purchase, an abandoned cart), when."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import db, str_enum, utcnow

# SQLite's rowid alias must be INTEGER; PostgreSQL gets 64 bits (a shop's events pass 2^31 in time).
EVENT_ID = BigInteger().with_variant(Integer(), "sqlite")


class EventSource(StrEnum):
    """How an event came in."""

    API = "api"
    CSV = "csv"


class Event(db.Model):  # type: ignore[name-defined]
    """One thing a subscriber did, as the sender reported it.

    Indexed for the two questions asked of events: a subscriber's events over time (the timeline, "did X in the
    last N days"), and one event's occurrences over time (a trigger, a segment rule over everyone).
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_subscriber_occurred", "subscriber_id", "occurred_at"),
                      Index("ix_events_name_occurred", "name", "occurred_at"))

    id: Mapped[int] = mapped_column(EVENT_ID, primary_key=True)
    # Deleting a subscriber deletes their events (the index above starts with subscriber_id, so that is a lookup).
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    # jsonb on PostgreSQL, as subscribers' attributes: rules will read properties without parsing text.
    properties: Mapped[dict[str, Any]] = mapped_column(JSON().with_variant(JSONB(), "postgresql"), default=dict)
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Unique when given (NULLs never collide): a repeat of the same key is a duplicate, stored once.
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    source: Mapped[EventSource] = mapped_column(str_enum(EventSource), default=EventSource.API)
