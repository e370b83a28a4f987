"""What each event carries: the lower packages' signals (core/signals.py) turned into outbox messages.

Each receiver first asks whether any endpoint wants its event type (held by each process until an endpoint
changes: core/shared_config.py), so an installation without webhooks pays no query on its hot paths; then it reads
what the message tells in one query per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from automations.models import Automation, Event, Run
from core import signals
from core.batches import IN_BATCH, batched
from core.db import db
from lists.models import ConsentRecord, Import, MailingList, Subscriber
from mailer.models import Campaign, Delivery, Link
from tracking.models import Bounce, BounceType
from webhooks.outbox import announce, wanting

Item = tuple[int | None, dict[str, Any]]  # the subscriber it is about (its order), and the message's data
SURVEY_ANSWERED = "survey.answered"  # the customer event surveys store (another package's), sent on as it is


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _send(event_type: str, build: Callable[[], list[Item]]) -> None:
    """Announce an event type to the endpoints that want it, building its items only when some do."""
    targets = wanting(event_type)
    if targets:
        announce(event_type, build(), targets)


def _subscribers(ids: Sequence[int]) -> list[Item]:
    items = []
    for chunk in batched(sorted(ids), IN_BATCH):
        for row in db.session.execute(select(Subscriber.id, Subscriber.uuid, Subscriber.email, Subscriber.name,
                                             Subscriber.status, Subscriber.attribs)
                                      .where(Subscriber.id.in_(chunk)).order_by(Subscriber.id)):
            items.append((row.id, {"subscriber": {"id": row.id, "uuid": row.uuid, "email": row.email,
                                                  "name": row.name, "status": row.status.value,
                                                  "attribs": row.attribs}}))
    return items


def on_subscribers_changed(_sender: object = None, *, created: Sequence[int], updated: Sequence[int]) -> None:
    if created:
        _send("subscriber.created", lambda: _subscribers(created))
    if updated:
        _send("subscriber.updated", lambda: _subscribers(updated))


def on_subscribers_deleting(_sender: object = None, *, ids: Sequence[int]) -> None:
    _send("subscriber.deleted", lambda: _subscribers(ids))


def _consents(ids: Sequence[int]) -> list[tuple[int, dict[str, Any]]]:
    records = []
    for chunk in batched(sorted(ids), IN_BATCH):
        records += [(row.subscriber_id, {
            "id": row.id, "subscriber_id": row.subscriber_id, "email": row.email, "list_id": row.list_id,
            "list_name": row.list_name, "status": row.status.value, "method": row.method.value,
            "ip": row.ip, "evidence": row.evidence, "created_at": _iso(row.created_at)})
            for row in db.session.execute(
                select(ConsentRecord.id, ConsentRecord.subscriber_id, ConsentRecord.list_id, ConsentRecord.status,
                       ConsentRecord.method, ConsentRecord.ip, ConsentRecord.evidence, ConsentRecord.created_at,
                       Subscriber.email, MailingList.name.label("list_name"))
                .join(Subscriber, Subscriber.id == ConsentRecord.subscriber_id)
                .join(MailingList, MailingList.id == ConsentRecord.list_id)
                .where(ConsentRecord.id.in_(chunk)).order_by(ConsentRecord.id))]
    return records


def on_consent_recorded(_sender: object = None, *, ids: Sequence[int]) -> None:
    """Each consent record is a subscription's change too (lists writes one for each)."""
    _send("consent.recorded", lambda: [(s, {"consent": data}) for s, data in _consents(ids)])
    _send("subscription.changed", lambda: [(s, {"subscription": {
        key: data[key] for key in ("subscriber_id", "email", "list_id", "list_name", "status")}})
        for s, data in _consents(ids)])


def on_import_ended(_sender: object = None, *, import_id: int) -> None:
    def build() -> list[Item]:
        imp = db.session.get(Import, import_id)
        if imp is None:
            return []
        db.session.refresh(imp)  # its last progress was written with a statement, past the session's copy
        return [(None, {"import": {"id": imp.id, "kind": imp.kind.value, "file_name": imp.file_name,
                                   "status": imp.status.value, "total": imp.total, "imported": imp.imported,
                                   "failed": imp.failed, "finished_at": _iso(imp.finished_at)}})]
    _send("import.finished", build)


def _campaign(campaign_id: int) -> list[Item]:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        return []
    return [(None, {"campaign": {"id": campaign.id, "uuid": campaign.uuid, "name": campaign.name,
                                 "subject": campaign.subject, "to_send": campaign.to_send,
                                 "started_at": _iso(campaign.started_at)}})]


def on_campaign_started(_sender: object = None, *, campaign_id: int) -> None:
    _send("campaign.started", lambda: _campaign(campaign_id))


def on_campaign_finished(_sender: object = None, *, campaign_id: int) -> None:
    _send("campaign.finished", lambda: _campaign(campaign_id))


def _deliveries(ids: Iterable[int | None]) -> dict[int, Any]:
    """Deliveries with their subscriber's address, by id."""
    wanted = sorted({i for i in ids if i is not None})
    found = {}
    for chunk in batched(wanted, IN_BATCH):
        for row in db.session.execute(select(Delivery.id, Delivery.campaign_id, Delivery.subscriber_id,
                                             Delivery.sent_at, Delivery.message_id, Subscriber.email)
                                      .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
                                      .where(Delivery.id.in_(chunk))):
            found[row.id] = row
    return found


def _message(delivery: Any) -> dict[str, Any]:
    return {"delivery_id": delivery.id, "campaign_id": delivery.campaign_id,
            "subscriber_id": delivery.subscriber_id, "email": delivery.email}


def on_deliveries_sent(_sender: object = None, *, delivery_ids: Sequence[int]) -> None:
    def build() -> list[Item]:
        found = _deliveries(delivery_ids)
        return [(d.subscriber_id, {"message": {**_message(d), "message_id": d.message_id, "sent_at": _iso(d.sent_at)}})
                for d in (found[i] for i in sorted(found))]
    _send("message.sent", build)


def on_tracking_events_stored(_sender: object = None, *, rows: Sequence[dict[str, Any]]) -> None:
    """Opens and clicks as the flusher stored them, each saying whether a person or a machine (a link scanner,
    a privacy proxy) made it, and by which rule."""
    for kind, event_type in (("open", "message.opened"), ("click", "message.clicked")):
        events = [row for row in rows if getattr(row["kind"], "value", row["kind"]) == kind]
        if events:
            _send(event_type, lambda events=events: _engagements(events))  # type: ignore[misc]


def _engagements(events: Sequence[dict[str, Any]]) -> list[Item]:
    deliveries = _deliveries(row["delivery_id"] for row in events)
    link_ids = sorted({row["link_id"] for row in events if row["link_id"] is not None})
    urls = dict(db.session.execute(select(Link.id, Link.url).where(Link.id.in_(link_ids))).all())
    items: list[Item] = []
    for row in events:
        delivery = deliveries.get(row["delivery_id"])
        data: dict[str, Any] = {"delivery_id": row["delivery_id"], "campaign_id": row["campaign_id"],
                                "subscriber_id": delivery.subscriber_id if delivery else None,
                                "email": delivery.email if delivery else None, "at": _iso(row["at"]),
                                "by": "person" if row["human"] else "machine", "rule": row["rule"]}
        if row["link_id"] is not None:
            data["url"] = urls.get(row["link_id"])
        items.append((data["subscriber_id"], {"message": data}))
    return items


def on_bounces_stored(_sender: object = None, *, ids: Sequence[int]) -> None:
    def build(complaints: bool) -> list[Item]:
        rows = db.session.scalars(select(Bounce).where(Bounce.id.in_(list(ids))).order_by(Bounce.id))
        return [(b.subscriber_id, {"message": {
            "bounce_id": b.id, "delivery_id": b.delivery_id, "campaign_id": b.campaign_id,
            "subscriber_id": b.subscriber_id, "email": b.email, "type": b.type.value, "source": b.source,
            "status": b.status, "diagnostic": b.diagnostic}})
            for b in rows if (b.type == BounceType.COMPLAINT) == complaints]
    _send("message.bounced", lambda: build(False))
    _send("message.complained", lambda: build(True))


def on_unsubscribed_from_campaign(_sender: object = None, *, subscriber_id: int, delivery_id: int) -> None:
    """Sent after lists' commit: this message is written in a transaction of its own."""
    def build() -> list[Item]:
        delivery = _deliveries([delivery_id]).get(delivery_id)
        return [(subscriber_id, {"message": _message(delivery) if delivery else
                                 {"delivery_id": delivery_id, "subscriber_id": subscriber_id}})]
    _send("message.unsubscribed", build)
    db.session.commit()


def _runs(rows: Sequence[dict[str, Any]]) -> list[Item]:
    names = dict(db.session.execute(select(Automation.id, Automation.name).where(
        Automation.id.in_({row["automation_id"] for row in rows}))).all())
    emails = dict(db.session.execute(select(Subscriber.id, Subscriber.email).where(
        Subscriber.id.in_({row["subscriber_id"] for row in rows}))).all())
    return [(row["subscriber_id"], {"run": {**row, "automation_name": names.get(row["automation_id"]),
                                            "email": emails.get(row["subscriber_id"])}}) for row in rows]


def on_runs_entered(_sender: object = None, *, ids: Sequence[int]) -> None:
    def build() -> list[Item]:
        rows = [{"id": r.id, "automation_id": r.automation_id, "subscriber_id": r.subscriber_id}
                for chunk in batched(sorted(ids), IN_BATCH) for r in db.session.execute(
                    select(Run.id, Run.automation_id, Run.subscriber_id).where(Run.id.in_(chunk)).order_by(Run.id))]
        return _runs(rows)
    _send("automation.entered", build)


def on_runs_ended(_sender: object = None, *, runs: Sequence[dict[str, Any]]) -> None:
    """A goal reached is its own event; a run that ended any other way (completed, exited by a rule, failed) exited,
    its state and reason saying how."""
    goals = [run for run in runs if run["state"] == "converted"]
    others = [run for run in runs if run["state"] != "converted"]
    if goals:
        _send("automation.goal_reached", lambda: _runs(goals))
    if others:
        _send("automation.exited", lambda: _runs(others))


def on_events_stored(_sender: object = None, *, ids: Sequence[int]) -> None:
    """Survey answers are customer events named survey.answered (the surveys package stores them so)."""
    def build() -> list[Item]:
        return [(row.subscriber_id, {"event": {"id": row.id, "subscriber_id": row.subscriber_id, "email": row.email,
                                               "name": row.name, "properties": row.properties,
                                               "occurred_at": _iso(row.occurred_at)}})
                for chunk in batched(sorted(ids), IN_BATCH) for row in db.session.execute(
                    select(Event.id, Event.subscriber_id, Event.name, Event.properties, Event.occurred_at,
                           Subscriber.email).join(Subscriber, Subscriber.id == Event.subscriber_id)
                    .where(Event.id.in_(chunk), Event.name == SURVEY_ANSWERED).order_by(Event.id))]
    _send(SURVEY_ANSWERED, build)


CONNECTIONS: dict[Any, Callable[..., None]] = {
    signals.subscribers_changed: on_subscribers_changed,
    signals.subscribers_deleting: on_subscribers_deleting,
    signals.consent_recorded: on_consent_recorded,
    signals.import_ended: on_import_ended,
    signals.campaign_started: on_campaign_started,
    signals.campaign_finished: on_campaign_finished,
    signals.deliveries_sent: on_deliveries_sent,
    signals.tracking_events_stored: on_tracking_events_stored,
    signals.bounces_stored: on_bounces_stored,
    signals.unsubscribed_from_campaign: on_unsubscribed_from_campaign,
    signals.runs_entered: on_runs_entered,
    signals.runs_ended: on_runs_ended,
    signals.events_stored: on_events_stored,
}


def connect() -> None:
    """Connect every receiver (again is a no-op: blinker keeps one of each)."""
    for signal, receiver in CONNECTIONS.items():
        signal.connect(receiver)
