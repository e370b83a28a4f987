"""Conversions: customer events (KAIRAN_CONVERSION_EVENTS, ``purchase`` by default) attributed to the message that
brought them, with the revenue they added.

An event goes to the campaign or automation message whose tracked link its subscriber clicked last as a person
(machines' clicks never count) within KAIRAN_ATTRIBUTION_DAYS before it occurred. An event whose properties carry
a valid ``kairan_c`` (the redirect adds it to links when KAIRAN_CONVERSION_PARAMETER is on: a delivery's id,
signed, so it cannot be made to name another) goes to that delivery directly, whoever clicked.

A periodic job (``attribute``) reads the events stored since its cursor in chunks; each chunk is one query that
finds every event's last click (through the deliveries' subscriber index and the events' delivery index), one
that reads the deliveries named, and one insert (an event already attributed is skipped: ON CONFLICT). The cursor
moves in the same transaction, only past events stored SETTLE ago (automations/triggers.py says why), and from the
value read, so two workers never attribute the same chunk twice. Clicks still in tracking's Redis stream are
flushed first, so a purchase a moment after its click finds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from automations.models import Event
from automations.triggers import SETTLE
from core.db import db, utcnow
from core.tokens import Mark, read_mark_token
from lists.queries import is_sqlite
from mailer.models import Delivery
from tracking.flush import flush_events
from tracking.metrics_cache import changed_on_commit
from tracking.models import Conversion, ConversionCursor, EventKind, TrackingEvent
from tracking.revenue import read_revenue
from tracking.settings import CONVERSIONS, ConversionSettings
from tracking.views import PARAMETER  # the link parameter, and the event property a shop sends it back in

CHUNK = 5000  # events per transaction


def attribute() -> int:
    """Job (periodic): attribute the conversion events stored since the last look; return how many converted."""
    flush_events()
    settings, attributed = CONVERSIONS.current(), 0
    while True:
        cursor = db.session.scalar(select(ConversionCursor.event_id).where(ConversionCursor.id == 1)) or 0
        settled = db.session.scalar(select(func.max(Event.id)).where(Event.id > cursor,
                                                                     Event.received_at < utcnow() - SETTLE))
        if settled is None:
            db.session.rollback()
            return attributed
        rows = db.session.execute(_last_clicks(settings, cursor, settled)).all()
        moved = rows[-1].id if len(rows) == CHUNK else settled
        claimed = db.session.execute(update(ConversionCursor).where(
            ConversionCursor.id == 1, ConversionCursor.event_id == cursor).values(event_id=moved))
        if not claimed.rowcount:  # type: ignore[attr-defined]
            db.session.rollback()  # another worker took these events
            return attributed
        attributed += _store(rows, settings)
        db.session.commit()
        if moved == settled:
            return attributed


def _window_start(days: int) -> ColumnElement[Any]:
    """The earliest click time that counts for an event: its occurrence less the window, in SQL."""
    if is_sqlite():  # times are text there; %f keeps milliseconds, enough for a window of days
        return func.strftime("%Y-%m-%d %H:%M:%f", Event.occurred_at, f"-{days} days")
    return Event.occurred_at - func.make_interval(0, 0, 0, days)  # years, months, weeks, days


def _last_clicks(settings: ConversionSettings, after: int, upto: int) -> Any:
    """The chunk's conversion events, each with the delivery whose link its subscriber clicked last as a person
    within the window (NULL: none)."""
    last_click = (select(TrackingEvent.delivery_id)
                  .join(Delivery, Delivery.id == TrackingEvent.delivery_id)
                  .where(Delivery.subscriber_id == Event.subscriber_id, TrackingEvent.kind == EventKind.CLICK,
                         TrackingEvent.human.is_(True), TrackingEvent.at <= Event.occurred_at,
                         TrackingEvent.at > _window_start(settings.window_days))
                  .order_by(TrackingEvent.at.desc(), TrackingEvent.id.desc()).limit(1).scalar_subquery())
    return (select(Event.id, Event.subscriber_id, Event.occurred_at, Event.properties, last_click.label("clicked"))
            # The name as an expression: the planner ranges over ids (the events since the cursor), where the name's
            # index would have SQLite read every purchase ever stored, for each chunk.
            .where(Event.id > after, Event.id <= upto, Event.name.concat("").in_(sorted(settings.events)))
            .order_by(Event.id).limit(CHUNK))


def _signed_delivery(properties: dict[str, Any]) -> int | None:
    """The delivery a valid kairan_c names, or None (absent, malformed or not signed here)."""
    token = properties.get(PARAMETER)
    ids = read_mark_token(Mark.CONVERSION, token) if isinstance(token, str) else None
    return ids[0] if ids is not None and len(ids) == 1 else None


def _store(rows: Sequence[Any], settings: ConversionSettings) -> int:
    """Insert a conversion for each event that has a delivery (signed, else clicked); return how many went in."""
    signed = {row.id: _signed_delivery(row.properties or {}) for row in rows}
    wanted = {d for d in (*signed.values(), *(row.clicked for row in rows)) if d is not None}
    deliveries = {d.id: d for d in db.session.execute(select(Delivery.id, Delivery.campaign_id, Delivery.run_id)
                                                      .where(Delivery.id.in_(wanted)))} if wanted else {}
    values = []
    for row in rows:
        delivery, via = deliveries.get(signed[row.id] or 0), "parameter"
        if delivery is None:  # no kairan_c, a forged one, or its delivery since deleted: the last click decides
            delivery, via = deliveries.get(row.clicked or 0), "click"
        if delivery is None:
            continue
        revenue = read_revenue(row.properties or {}, settings.currency)
        values.append({"event_id": row.id, "subscriber_id": row.subscriber_id, "campaign_id": delivery.campaign_id,
                       "delivery_id": delivery.id, "run_id": delivery.run_id, "via": via, "at": row.occurred_at,
                       "amount": revenue.amount, "currency": revenue.currency,
                       "problem": revenue.problem.value if revenue.problem else None})
    if not values:
        return 0
    table = Conversion.__table__
    insert = sqlite_insert(table) if is_sqlite() else postgresql_insert(table)
    db.session.execute(insert.on_conflict_do_nothing(index_elements=["event_id"]), values)
    changed_on_commit(db.session, {value["campaign_id"] for value in values})
    return len(values)
