"""Public subscription services: sign up, confirm double opt-in, unsubscribe, preferences."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from core.db import db
from core.oneline import one_line
from core.signals import optin_requested, unsubscribed_from_campaign
from core.tokens import Purpose, make_token, read_token
from lists.addresses import address_key, normalise_email
from lists.errors import NoListsChosenError, UnknownListError
from lists.models import (
    ListOptin,
    ListStatus,
    ListType,
    MailingList,
    Subscriber,
    SubscriberStatus,
    SubscriptionStatus,
)
from lists.subscribers import Consent, set_subscription_status, subscribe

MAX_NAME = 200


def public_links(subscriber: Subscriber, delivery_id: int | None = None, *, test: bool = False) -> dict[str, str]:
    """Return a subscriber's signed link tokens (as mail and pages give them).

    A campaign message's unsubscribe and preferences tokens also name its delivery, so the campaign is
    credited with an unsubscribe made through either. A test message's (``test``) lead to a page that
    says it was a test and changes nothing, whoever it was rendered for.
    """
    reader: Any = subscriber.uuid if delivery_id is None else [subscriber.uuid, delivery_id]
    return {"unsubscribe": make_token(Purpose.UNSUBSCRIBE, reader, test=test),
            "preferences": make_token(Purpose.PREFERENCES, reader, test=test),
            "optin": make_token(Purpose.OPTIN, subscriber.uuid, test=test)}


def read_reader_token(purpose: Purpose, token: str) -> tuple[str, int | None]:
    """Return the subscriber uuid an unsubscribe or preferences token names, and its delivery (None: none)."""
    payload = read_token(purpose, token)
    if isinstance(payload, list) and len(payload) == 2 and isinstance(payload[1], int):
        return str(payload[0]), payload[1]
    return str(payload or ""), None


def public_lists() -> list[MailingList]:
    """Return the lists anyone may join (public and active), by name."""
    return list(db.session.scalars(
        select(MailingList).where(MailingList.type == ListType.PUBLIC, MailingList.status == ListStatus.ACTIVE)
        .order_by(MailingList.name)))


def lists_by_uuid(uuids: Iterable[str], *, public_only: bool) -> list[MailingList]:
    """Return the lists with these uuids (only public ones when asked); unknown uuids are refused."""
    wanted = {u for u in uuids if u}
    if not wanted:
        return []
    stmt = select(MailingList).where(MailingList.uuid.in_(wanted))
    if public_only:
        stmt = stmt.where(MailingList.type == ListType.PUBLIC, MailingList.status == ListStatus.ACTIVE)
    found = list(db.session.scalars(stmt))
    if len(found) != len(wanted):
        raise UnknownListError(_("One of the chosen lists does not exist or is not open to subscription."))
    return found


def get_by_uuid(subscriber_uuid: str) -> Subscriber | None:
    """Return the subscriber with this uuid, if any."""
    return db.session.scalars(select(Subscriber).where(Subscriber.uuid == subscriber_uuid)).first()


def public_subscribe(email: str, name: str, list_uuids: Sequence[str], consent: Consent, language: str) -> bool:
    """Subscribe someone from a public form; return whether a confirmation mail was asked for.

    A blocklisted address gets the same answer as anyone else and nothing is changed, so the
    form reveals nothing about who is on Kairan's lists.
    """
    address = normalise_email(email)
    lists = lists_by_uuid(list_uuids, public_only=True)
    if not lists:
        raise NoListsChosenError()
    subscriber = db.session.scalars(select(Subscriber).where(Subscriber.email_key == address_key(address))).first()
    if subscriber is None:
        subscriber = Subscriber(email=address, email_key=address_key(address),
                                name=one_line(name, _("Name"))[:MAX_NAME] or address.split("@")[0], attribs={})
        db.session.add(subscriber)
        db.session.flush()
    elif subscriber.status == SubscriberStatus.BLOCKLISTED:
        db.session.rollback()
        return any(m.optin == ListOptin.DOUBLE for m in lists)
    subscribe(subscriber, lists, consent)
    db.session.commit()
    return _ask_confirmation(subscriber, lists, language)


def _ask_confirmation(subscriber: Subscriber, joined: Sequence[MailingList], language: str) -> bool:
    """Ask mailer (by signal) to send the opt-in mail for lists just joined and not yet confirmed."""
    pending = [s.list_id for s in subscriber.subscriptions
               if s.status == SubscriptionStatus.UNCONFIRMED and s.list_id in {m.id for m in joined}]
    if pending:
        optin_requested.send(subscriber_id=subscriber.id, list_ids=pending, language=language)
    return bool(pending)


def pending_optins(subscriber: Subscriber, list_uuids: Sequence[str] = ()) -> list[MailingList]:
    """Return the double opt-in lists the subscriber has yet to confirm (limited to list_uuids if given)."""
    lists = [s.mailing_list for s in subscriber.subscriptions if s.status == SubscriptionStatus.UNCONFIRMED]
    wanted = set(list_uuids)
    return [m for m in lists if not wanted or m.uuid in wanted]


def confirm(subscriber: Subscriber, lists: Sequence[MailingList], consent: Consent) -> None:
    """Confirm pending subscriptions (the subscriber clicked the link in the confirmation mail)."""
    set_subscription_status(subscriber, lists, SubscriptionStatus.CONFIRMED, consent)
    db.session.commit()


def unsubscribe(subscriber: Subscriber, consent: Consent, list_ids: Sequence[int] | None = None,
                delivery_id: int | None = None) -> None:
    """Unsubscribe from the given lists, or from every list; credit the campaign whose message (delivery) said how."""
    lists = [s.mailing_list for s in subscriber.subscriptions if list_ids is None or s.list_id in list_ids]
    set_subscription_status(subscriber, lists, SubscriptionStatus.UNSUBSCRIBED, consent)
    db.session.commit()
    if delivery_id is not None:
        unsubscribed_from_campaign.send(subscriber_id=subscriber.id, delivery_id=delivery_id)


def update_preferences(subscriber: Subscriber, name: str, wanted_list_ids: Iterable[int], consent: Consent,
                       language: str, *, delivery_id: int | None = None) -> None:
    """Keep the lists ticked (joining public ones newly ticked) and unsubscribe the rest; change the name.

    Leaving a list from the page a campaign message linked to credits that campaign (its delivery).
    """
    wanted = set(wanted_list_ids)
    subscriber.name = one_line(name, _("Name"))[:MAX_NAME] or subscriber.name
    current = {s.list_id: s for s in subscriber.subscriptions}
    leave = [s.mailing_list for s in subscriber.subscriptions
             if s.list_id not in wanted and s.status != SubscriptionStatus.UNSUBSCRIBED]
    set_subscription_status(subscriber, leave, SubscriptionStatus.UNSUBSCRIBED, consent)
    join = [m for m in public_lists() if m.id in wanted
            and (m.id not in current or current[m.id].status == SubscriptionStatus.UNSUBSCRIBED)]
    subscribe(subscriber, join, consent)
    db.session.commit()
    if leave and delivery_id is not None:
        unsubscribed_from_campaign.send(subscriber_id=subscriber.id, delivery_id=delivery_id)
    _ask_confirmation(subscriber, join, language)
