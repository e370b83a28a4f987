"""The lists package's touchpoints: every subscription change, from its consent record."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from core.db import db
from core.timeline import TimelineEvent
from lists.consent_evidence import describe
from lists.models import ConsentMethod, ConsentRecord, MailingList, SubscriptionStatus


def method_label(method: ConsentMethod) -> str:
    """Return how a consent was given, in the UI language."""
    return {
        ConsentMethod.FORM: _("subscription form"),
        ConsentMethod.IMPORT: _("import"),
        ConsentMethod.API: _("API"),
        ConsentMethod.ADMIN: _("by an admin"),
        ConsentMethod.EMAIL_LINK: _("a link in an email"),
    }[method]


def subscription_events(subscriber_id: int, limit: int) -> list[TimelineEvent]:
    """Return a subscriber's subscription changes, newest first."""
    rows = db.session.execute(
        select(ConsentRecord, MailingList.name)
        .join(MailingList, MailingList.id == ConsentRecord.list_id)
        .where(ConsentRecord.subscriber_id == subscriber_id)
        .order_by(ConsentRecord.created_at.desc(), ConsentRecord.id.desc())
        .limit(limit)
    )
    events = []
    for record, list_name in rows:
        title = {
            SubscriptionStatus.CONFIRMED: _("Subscribed to %(list)s", list=list_name),
            SubscriptionStatus.UNCONFIRMED: _("Subscribed to %(list)s, awaiting confirmation", list=list_name),
            SubscriptionStatus.UNSUBSCRIBED: _("Unsubscribed from %(list)s", list=list_name),
        }[record.status]
        parts = (method_label(record.method), describe(record.evidence), record.ip or "")
        detail = " · ".join(part for part in parts if part)
        events.append(TimelineEvent(at=record.created_at, kind=record.status.value, title=title, detail=detail))
    return events
