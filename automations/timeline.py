"""Customer events on a subscriber's timeline: each event's name, and its properties in short."""

from __future__ import annotations

from typing import Any

import orjson
from flask_babel import gettext as _
from sqlalchemy import select

from automations.models import Event
from core.db import db
from core.timeline import TimelineEvent

DETAIL_LENGTH = 160  # characters of properties shown; the API and the export keep them whole


def describe_properties(properties: dict[str, Any]) -> str:
    """Return properties as one short line, keys in order (``price: 3000 · product: インク``), cut with … when long.

    Sorted: PostgreSQL's jsonb keeps keys in an order of its own, SQLite as they came.
    """
    parts = [f"{key}: {value if isinstance(value, str) else orjson.dumps(value).decode()}"
             for key, value in sorted(properties.items())]
    line = " · ".join(parts)
    return line if len(line) <= DETAIL_LENGTH else line[:DETAIL_LENGTH - 1] + "…"


def customer_events(subscriber_id: int, limit: int) -> list[TimelineEvent]:
    """Return the subscriber's events, newest first (ix_events_subscriber_occurred)."""
    rows = db.session.execute(
        select(Event.occurred_at, Event.name, Event.properties).where(Event.subscriber_id == subscriber_id)
        .order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit))
    return [TimelineEvent(at=at, kind="customer-event", title=_("Event “%(name)s”", name=name),
                          detail=describe_properties(properties or {}))
            for at, name, properties in rows]
