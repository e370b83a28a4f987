"""Exports: a streamed CSV of subscribers, and one subscriber's data for a privacy request."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from core import audit
from core.db import db
from core.safecsv import csv_stream
from core.timeline import timeline
from lists.consent_evidence import describe
from lists.export_columns import attribute_cell, attribute_keys, header_row, local_time
from lists.models import ConsentRecord, MailingList, Subscriber
from lists.subscribers import subscriber_as_dict
from lists.timeline import method_label

EXPORT_BATCH = 2000  # rows read per query, by id (keyset), so memory stays flat at any size
# Then one column per attribute key (lists/export_columns.py).
HEADER = ["email", "name", "status", "lists", "created_at", "updated_at", "uuid"]


def _row(subscriber: Subscriber, list_names: dict[int, str], keys: Sequence[str]) -> list[str]:
    lists = "|".join(f"{list_names.get(s.list_id, s.list_id)}:{s.status.value}" for s in subscriber.subscriptions)
    return [subscriber.email, subscriber.name, subscriber.status.value, lists, local_time(subscriber.created_at),
            local_time(subscriber.updated_at), subscriber.uuid, *(attribute_cell(subscriber.attribs, k) for k in keys)]


def export_csv(stmt: Select[Any], encoding: str, language: str = "en") -> Iterator[bytes]:
    """Yield a CSV of the subscribers a query selects, in batches by id, headed in ``language``."""
    keys = attribute_keys(stmt)
    # An attribute named like a fixed column gets a prefix, so every header names one column.
    names = [f"attribs.{key}" if key in HEADER else key for key in keys]
    return csv_stream(header_row(HEADER, language) + names, _subscriber_batches(stmt, keys), encoding)


def _subscriber_batches(stmt: Select[Any], keys: Sequence[str]) -> Iterator[list[list[str]]]:
    list_names = {list_id: name for list_id, name in db.session.execute(select(MailingList.id, MailingList.name))}
    last_id = None
    base = stmt.order_by(None).order_by(Subscriber.id).options(
        selectinload(Subscriber.subscriptions)).execution_options(populate_existing=True)
    while True:
        page = base if last_id is None else base.where(Subscriber.id > last_id)
        subscribers = db.session.scalars(page.limit(EXPORT_BATCH)).all()
        if not subscribers:
            return
        yield [_row(s, list_names, keys) for s in subscribers]
        last_id = subscribers[-1].id
        db.session.expunge_all()  # keep memory flat


def subscriber_data(subscriber: Subscriber) -> dict[str, Any]:
    """Return everything Kairan keeps about one subscriber (listmonk's export shape, plus consent); who asked for
    it is audited."""
    audit.record("subscriber.exported", audit.Target("subscriber", subscriber.id))
    db.session.commit()
    records = db.session.scalars(
        select(ConsentRecord).where(ConsentRecord.subscriber_id == subscriber.id).order_by(ConsentRecord.id))
    profile = subscriber_as_dict(subscriber)
    return {
        "profile": [{key: profile[key] for key in ("id", "uuid", "email", "name", "attribs", "status",
                                                   "created_at", "updated_at")}],
        "subscriptions": [
            {"subscription_status": s["subscription_status"], "name": s["name"], "type": s["type"],
             "created_at": s["subscription_created_at"]} for s in profile["lists"]
        ],
        "consent": [
            {"list_id": r.list_id, "status": r.status.value, "method": r.method.value,
             "method_label": method_label(r.method), "ip": r.ip,
             "user_agent": r.user_agent, "evidence": describe(r.evidence), "created_at": r.created_at.isoformat()}
            for r in records
        ],
        "timeline": [{"at": e.at.isoformat(), "kind": e.kind, "title": e.title, "detail": e.detail}
                     for e in timeline(subscriber.id)],
        # No campaign is sent before the send issue; the keys are here because listmonk clients expect them.
        "campaign_views": [],
        "link_clicks": [],
    }

