"""Webhook endpoints, the outbox of messages for them, and the log of each delivery attempt."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import db, utcnow

# SQLite's rowid alias must be INTEGER; PostgreSQL gets 64 bits (opens and clicks pass 2^31 in time).
BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class Endpoint(db.Model):  # type: ignore[name-defined]
    """A URL that wants some event types, signed with its own secret."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(100))  # whsec_ and the base64 of 32 random bytes
    enabled: Mapped[bool] = mapped_column(default=True)
    batch_high_volume: Mapped[bool] = mapped_column(default=False)  # opens and clicks, up to BATCH_MAX a request
    # Set at the first failure after a success, cleared by the next success: the endpoint is switched off when it
    # stays set for longer than the retries last (webhooks/delivery.py).
    failing_since: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]  # switched off because it kept failing (a notice on the dashboard)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MessageState:
    """Where an outgoing message is: waiting (due at next_attempt_at), delivered, or given up on."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class OutboxMessage(db.Model):  # type: ignore[name-defined]
    """One event for one endpoint, written in the transaction of the change it tells of, delivered by a worker.

    A subscriber's messages to an endpoint go out in id order (webhooks/delivery.py): ``lane`` keeps them on one
    sending thread.
    """

    __tablename__ = "webhook_messages"
    __table_args__ = (Index("ix_webhook_messages_endpoint_state_id", "endpoint_id", "state", "id"),
                      Index("ix_webhook_messages_created_at", "created_at"))  # the clean-up's

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    msg_id: Mapped[str] = mapped_column(String(40))  # the webhook-id header: the same on every retry
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)  # the body as sent, JSON
    lane: Mapped[int] = mapped_column(default=0)
    state: Mapped[str] = mapped_column(String(10), default=MessageState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class Attempt(db.Model):  # type: ignore[name-defined]
    """One request to an endpoint and what came back: the endpoint's delivery log."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_endpoint_id", "endpoint_id", "id"),
                      Index("ix_webhook_attempts_at", "at"))  # the clean-up's

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(40))  # "batch" for several high-volume events in one request
    # The request's messages (a batch carries several): what the replay button sends again.
    message_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    request_headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    request_body: Mapped[str] = mapped_column(Text)
    status: Mapped[int | None]  # the HTTP status, None when no answer came
    response_body: Mapped[str] = mapped_column(Text, default="")  # its first RESPONSE_KEPT characters
    error: Mapped[str] = mapped_column(String(500), default="")
    duration_ms: Mapped[float] = mapped_column(default=0.0)
