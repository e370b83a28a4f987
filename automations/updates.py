"""The update step: set a subscriber's attributes, add them to lists or take them off, as an automation says."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from core.db import db, utcnow
from lists.models import ConsentMethod, MailingList, Subscriber, SubscriptionStatus
from lists.subscribers import Consent, set_subscription_status, subscribe


def apply_updates(updates: Sequence[tuple[int, dict[str, Any]]]) -> None:
    """Apply each (subscriber id, update step) in the caller's transaction (the engine's batch)."""
    wanted_lists = {int(i) for _id, step in updates
                    for i in [*step.get("add_lists", []), *step.get("remove_lists", [])]}
    lists = {m.id: m for m in db.session.scalars(select(MailingList).where(MailingList.id.in_(wanted_lists)))}
    subscribers = {s.id: s for s in db.session.scalars(
        select(Subscriber).where(Subscriber.id.in_({subscriber_id for subscriber_id, _step in updates})))}
    consent = Consent(ConsentMethod.ADMIN, evidence="automation")
    for subscriber_id, step in updates:
        subscriber = subscribers.get(subscriber_id)
        if subscriber is None:
            continue
        if step.get("attributes"):
            subscriber.attribs = {**(subscriber.attribs or {}), **step["attributes"]}
            subscriber.updated_at = utcnow()
        adding = [lists[int(i)] for i in step.get("add_lists", []) if int(i) in lists]
        if adding:
            subscribe(subscriber, adding, consent, preconfirm=True)
        removing = [lists[int(i)] for i in step.get("remove_lists", []) if int(i) in lists]
        if removing:
            set_subscription_status(subscriber, removing, SubscriptionStatus.UNSUBSCRIBED, consent)
    db.session.flush()
