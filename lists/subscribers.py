"""Subscriber services: create, change, subscribe, blocklist, delete; shared by the UI and the API."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, delete, exists, func, select
from sqlalchemy.exc import IntegrityError

from core import audit
from core.batches import batched
from core.db import db, new_uuid, utcnow
from core.errors import ValidationError
from core.inputs import id_list
from core.oneline import one_line
from core.signals import subscribers_changed, subscribers_deleting
from core.validation import choice
from lists import queries
from lists.addresses import address_key, normalise_email
from lists.errors import EmailTakenError, NoListsChosenError, SubscriberNotFoundError, UnknownListError
from lists.models import (
    ConsentMethod,
    ConsentRecord,
    ListOptin,
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from lists.queries import delete_memberships, search_condition
from lists.segment_rules import compile_rule
from lists.segment_rules import count as count_segment

MAX_NAME = 200  # the column's length
WIPED_IDS_KEPT = 100  # a wipe's audit entry names this many of its subscribers, and counts them all


@dataclass(frozen=True)
class Consent:
    """Where a subscription change came from, kept as its consent record."""

    method: ConsentMethod
    evidence: str = ""
    ip: str | None = None
    user_agent: str | None = None


def _name(value: Any, email: str) -> str:
    name = one_line(value, _("Name"))
    if len(name) > MAX_NAME:
        raise ValidationError(_("A name has at most %(n)d characters.", n=MAX_NAME), field="name")
    return name or email.split("@", 1)[0]  # listmonk's default


def _attribs(value: Any) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValidationError(_("attribs must be a JSON object."), field="attribs")
    return value


def lists_by_id(list_ids: Iterable[Any]) -> list[MailingList]:
    """Return the lists with these ids, refusing ids that are not lists."""
    ids = set(id_list(list_ids, "lists"))
    found = list(db.session.scalars(select(MailingList).where(MailingList.id.in_(ids))))
    missing = ids - {m.id for m in found}
    if missing:
        raise UnknownListError(_("No list has the id %(id)s.", id=min(missing)))
    return found


def _record(subscriber: Subscriber, mailing_list: MailingList, status: SubscriptionStatus, consent: Consent) -> None:
    db.session.add(ConsentRecord(
        subscriber_id=subscriber.id, list_id=mailing_list.id, method=consent.method, status=status,
        ip=consent.ip, user_agent=(consent.user_agent or "")[:500] or None, evidence=consent.evidence,
    ))


def subscribe(subscriber: Subscriber, lists: Sequence[MailingList], consent: Consent,
              preconfirm: bool = False) -> None:
    """Add a subscriber to lists: confirmed on single opt-in (or when preconfirmed), else unconfirmed.

    An existing subscription keeps its status unless it was unsubscribed, which a new
    consent renews; listmonk behaves the same.
    """
    current = {s.list_id: s for s in subscriber.subscriptions}
    for mailing_list in lists:
        confirmed = preconfirm or mailing_list.optin == ListOptin.SINGLE
        status = SubscriptionStatus.CONFIRMED if confirmed else SubscriptionStatus.UNCONFIRMED
        existing = current.get(mailing_list.id)
        if existing is None:
            subscriber.subscriptions.append(Subscription(list_id=mailing_list.id, status=status, meta={}))
        elif existing.status == SubscriptionStatus.UNSUBSCRIBED:
            existing.status = status
        else:
            continue
        db.session.flush()
        _record(subscriber, mailing_list, status, consent)


def set_subscription_status(subscriber: Subscriber, lists: Sequence[MailingList], status: SubscriptionStatus,
                            consent: Consent) -> None:
    """Confirm or unsubscribe existing subscriptions, recording each change."""
    by_list = {s.list_id: s for s in subscriber.subscriptions}
    for mailing_list in lists:
        subscription = by_list.get(mailing_list.id)
        if subscription is not None and subscription.status != status:
            subscription.status = status
            subscription.updated_at = utcnow()
            _record(subscriber, mailing_list, status, consent)


def create_subscriber(data: dict[str, Any], consent: Consent) -> Subscriber:
    """Create a subscriber from listmonk's fields (email, name, status, lists, attribs, preconfirm)."""
    email = normalise_email(str(data.get("email") or ""))
    subscriber = Subscriber(
        email=email, email_key=address_key(email), name=_name(data.get("name"), email),
        attribs=_attribs(data.get("attribs")),
        status=choice(SubscriberStatus, data.get("status"), "status", SubscriberStatus.ENABLED),
    )
    lists = lists_by_id(data.get("lists") or [])
    if db.session.scalar(select(exists().where(Subscriber.email_key == subscriber.email_key))):
        raise EmailTakenError()
    db.session.add(subscriber)
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent insert of the same address
        db.session.rollback()
        raise EmailTakenError() from None
    subscribe(subscriber, lists, consent, preconfirm=bool(data.get("preconfirm_subscriptions")))
    db.session.commit()
    return subscriber


def subscribers_for_addresses(addresses: Iterable[str], *, create: bool = False) -> dict[str, int]:
    """Return email_key → id of the subscribers with these normalised addresses, in one query.

    With ``create``, the absent ones are added first, in one statement: enabled, on no list (so no consent is
    recorded), named as listmonk names them; an address another writer adds meanwhile is kept as it is.
    """
    by_key = {address_key(address): address for address in addresses}
    found = queries.subscribers_by_key(list(by_key))
    absent = [key for key in by_key if key not in found]
    if create and absent:
        stamp, status = queries.db_time(utcnow()), SubscriberStatus.ENABLED.value
        added = queries.insert_subscribers([(new_uuid(), by_key[key], key, _name(None, by_key[key]), "{}", status,
                                             stamp, stamp) for key in absent])
        subscribers_changed.send(created=sorted(subscriber_id for subscriber_id, _status in added.values()),
                                 updated=[])
        found |= added
    return {key: subscriber_id for key, (subscriber_id, _status) in found.items()}


def update_subscriber(subscriber: Subscriber, data: dict[str, Any], consent: Consent, *, partial: bool) -> None:
    """Change a subscriber (PUT replaces, PATCH changes only the fields given); lists given are added."""
    if "email" in data or not partial:
        email = normalise_email(str(data.get("email") or ""))
        if address_key(email) != subscriber.email_key and db.session.scalar(
            select(exists().where(Subscriber.email_key == address_key(email)))
        ):
            raise EmailTakenError()
        subscriber.email, subscriber.email_key = email, address_key(email)
    if "name" in data or not partial:
        subscriber.name = _name(data.get("name"), subscriber.email)
    if "attribs" in data or not partial:
        subscriber.attribs = _attribs(data.get("attribs"))
    if "status" in data or not partial:
        subscriber.status = choice(SubscriberStatus, data.get("status"), "status", subscriber.status)
    if data.get("lists"):
        subscribe(subscriber, lists_by_id(data["lists"]), consent,
                  preconfirm=bool(data.get("preconfirm_subscriptions")))
    subscriber.updated_at = utcnow()
    db.session.commit()


def get_subscriber(subscriber_id: int) -> Subscriber:
    """Return a subscriber or raise NotFoundError."""
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise SubscriberNotFoundError()
    return subscriber


def subscribers_by_id(ids: Iterable[Any]) -> list[Subscriber]:
    """Return the subscribers with these ids (unknown ids are skipped, as listmonk does)."""
    wanted = set(id_list(ids, "ids"))
    if not wanted:
        raise ValidationError(_("No subscriber ids given."))
    return list(db.session.scalars(select(Subscriber).where(Subscriber.id.in_(wanted))))


def delete_subscribers(ids: Iterable[Any]) -> int:
    """Delete subscribers with their subscriptions and consent records; return how many."""
    wanted = [s.id for s in subscribers_by_id(ids)]
    subscribers_deleting.send(ids=wanted)
    delete_memberships(subscriber_ids=wanted)
    db.session.execute(delete(Subscriber).where(Subscriber.id.in_(wanted)))
    # A wipe keeps no address: the audit log names the subscribers by id (the first ones of a large wipe).
    if wanted:
        audit.record("subscriber.wiped", audit.Target("subscriber", wanted[0] if len(wanted) == 1 else None),
                     after={"count": len(wanted), "ids": wanted[:WIPED_IDS_KEPT]})
    db.session.commit()
    return len(wanted)


def blocklist(subscribers: Sequence[Subscriber], consent: Consent) -> None:
    """Blocklist subscribers and unsubscribe them from every list, as listmonk does."""
    for subscriber in subscribers:
        subscriber.status = SubscriberStatus.BLOCKLISTED
        lists = [s.mailing_list for s in subscriber.subscriptions]
        set_subscription_status(subscriber, lists, SubscriptionStatus.UNSUBSCRIBED, consent)
    db.session.commit()


def manage_lists(subscribers: Sequence[Subscriber], action: str, list_ids: Iterable[Any],
                 status: str | None, consent: Consent) -> None:
    """listmonk's PUT /api/subscribers/lists: add (with a status), remove, or unsubscribe."""
    lists = lists_by_id(list_ids)
    if not lists:
        raise NoListsChosenError(_("No list ids given."))
    if action == "add":
        wanted = SubscriptionStatus(status) if status in {s.value for s in SubscriptionStatus} else None
        for subscriber in subscribers:
            subscribe(subscriber, lists, consent, preconfirm=wanted == SubscriptionStatus.CONFIRMED)
            if wanted == SubscriptionStatus.UNSUBSCRIBED:
                set_subscription_status(subscriber, lists, wanted, consent)
    elif action == "remove":
        ids = [m.id for m in lists]
        for subscriber in subscribers:
            subscriber.subscriptions = [s for s in subscriber.subscriptions if s.list_id not in ids]
    elif action == "unsubscribe":
        for subscriber in subscribers:
            set_subscription_status(subscriber, lists, SubscriptionStatus.UNSUBSCRIBED, consent)
    else:
        raise ValidationError(_("action must be one of: add, remove, unsubscribe."))
    db.session.commit()


def subscribers_query(search: str = "", list_id: int | None = None,
                      subscription_status: str | None = None, status: str | None = None,
                      rules: Any = None) -> Select[Any]:
    """Return subscribers matching a search (email, name, attribute values), filters and segment rules."""
    stmt = select(Subscriber)
    if rules:
        stmt = stmt.where(compile_rule(rules))
    if search.strip():
        stmt = stmt.where(search_condition(search.strip()))
    if list_id is not None or subscription_status:
        # IN (subquery), not a correlated EXISTS: the database starts from the (list_id, status)
        # index instead of probing once per subscriber (bench/audience.py, 1M on SQLite: 1,098 -> 202 ms).
        stmt = stmt.where(Subscriber.id.in_(_memberships(select(Subscription.subscriber_id), list_id,
                                                         subscription_status)))
    if status:
        stmt = stmt.where(Subscriber.status == SubscriberStatus(status))
    return stmt.order_by(Subscriber.id.desc())


def _memberships(stmt: Select[Any], list_id: int | None, subscription_status: str | None) -> Select[Any]:
    """Narrow a select over subscriptions to a list and a subscription status, each when given."""
    if list_id is not None:
        stmt = stmt.where(Subscription.list_id == list_id)
    if subscription_status:
        stmt = stmt.where(Subscription.status == SubscriptionStatus(subscription_status))
    return stmt


def count_subscribers(search: str = "", list_id: int | None = None, subscription_status: str | None = None,
                      status: str | None = None, rules: Any = None) -> int:
    """Count what ``subscribers_query`` with the same arguments returns.

    A list filter alone is counted from the subscriptions index (a subscriber is on a list at most
    once, and deleted with their subscriptions), not by looking up each member: 1M subscribers on
    SQLite, one list of 200k: ~200 ms down to ~15 ms.
    """
    if list_id is not None and not (search.strip() or status or rules):
        return int(db.session.scalar(_memberships(select(func.count()).select_from(Subscription), list_id,
                                                  subscription_status)) or 0)
    if rules and not (search.strip() or list_id is not None or subscription_status or status):
        return count_segment(rules)  # a segment alone: its count may start from a list it names
    query = subscribers_query(search, list_id, subscription_status, status, rules).order_by(None)
    return int(db.session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def subscriber_as_dict(subscriber: Subscriber) -> dict[str, Any]:
    """Serialise a subscriber as listmonk does, with its lists and subscription states."""
    return {
        "id": subscriber.id,
        "uuid": subscriber.uuid,
        "email": subscriber.email,
        "name": subscriber.name,
        "attribs": subscriber.attribs or {},
        "status": subscriber.status.value,
        "created_at": subscriber.created_at.isoformat(),
        "updated_at": subscriber.updated_at.isoformat(),
        "lists": [
            {
                "id": s.mailing_list.id,
                "uuid": s.mailing_list.uuid,
                "name": s.mailing_list.name,
                "type": s.mailing_list.type.value,
                "optin": s.mailing_list.optin.value,
                "tags": s.mailing_list.tags or [],
                "subscription_status": s.status.value,
                "subscription_meta": s.meta or {},
                "subscription_created_at": s.created_at.isoformat(),
                "subscription_updated_at": s.updated_at.isoformat(),
            }
            for s in sorted(subscriber.subscriptions, key=lambda s: s.list_id)
        ],
    }


BULK_BATCH = 500  # subscribers changed per transaction when an action covers a whole search
BULK_ACTIONS = ("add", "remove", "unsubscribe", "blocklist", "delete")


def apply_bulk(ids: Sequence[int], action: str, list_ids: Sequence[Any], status: str | None,
               consent: Consent) -> int:
    """Apply one action to many subscribers, a batch per transaction; return how many were changed."""
    if action not in BULK_ACTIONS:
        raise ValidationError(_("action must be one of: add, remove, unsubscribe, blocklist, delete."))
    for batch in batched(ids, BULK_BATCH):
        if action == "delete":
            delete_subscribers(batch)
        elif action == "blocklist":
            blocklist(subscribers_by_id(batch), consent)
        else:
            manage_lists(subscribers_by_id(batch), action, list_ids, status, consent)
    return len(ids)
