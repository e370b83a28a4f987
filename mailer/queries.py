"""Hot SQL of sending, named and kept together.

Materialising fixes a campaign's audience in one ``INSERT … SELECT``: the database walks the
subscriptions of the campaign's lists once and writes a delivery row per recipient, so a
million recipients never pass through Python. Who receives follows listmonk: on a double
opt-in list only confirmed subscriptions, on a single opt-in list every one not unsubscribed;
never a subscriber who is disabled or blocklisted, or whose address or domain is suppressed.
Each subscriber appears once (email_key is unique, so that is once per case-folded address)
however many of the lists they are on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, exists, func, insert, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement

from core.db import db, utcnow
from lists.models import (
    ListOptin,
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from lists.segments import compile_rule
from mailer.models import Delivery, DeliveryStatus


def _domain(email_key: Any) -> ColumnElement[str]:
    """The part of a case-folded address after its last @, in the running database's SQL."""
    if db.engine.dialect.name == "postgresql":
        return func.substring(email_key, "@([^@]*)$")
    return func.substr(email_key, func.instr(email_key, "@") + 1)  # carrier forms never hold a second @


def recipients(list_ids: Sequence[int], rules: Any = None) -> Any:
    """Return the SELECT of subscriber ids a campaign to these lists (and segment rules) reaches."""
    receives = or_(Subscription.status == SubscriptionStatus.CONFIRMED,
                   and_(Subscription.status == SubscriptionStatus.UNCONFIRMED,
                        MailingList.optin == ListOptin.SINGLE))
    member = (select(Subscription.subscriber_id).join(MailingList, MailingList.id == Subscription.list_id)
              .where(Subscription.list_id.in_(list_ids), receives))
    suppressed = exists().where(Suppression.value.in_([Subscriber.email_key, _domain(Subscriber.email_key)]))
    stmt = select(Subscriber.id).where(Subscriber.id.in_(member), Subscriber.status == SubscriberStatus.ENABLED,
                                       ~suppressed)
    if rules:
        stmt = stmt.where(compile_rule(rules))
    return stmt


def materialise(campaign_id: int, list_ids: Sequence[int], rules: Any = None) -> int:
    """Insert one queued delivery per recipient (in the caller's transaction); return how many."""
    chosen = recipients(list_ids, rules).subquery()
    columns = Delivery.__table__.c
    rows = select(literal(campaign_id), chosen.c.id, literal(DeliveryStatus.QUEUED, columns.status.type), literal(0),
                  literal(utcnow(), columns.created_at.type))
    db.session.execute(insert(Delivery).from_select(
        ["campaign_id", "subscriber_id", "status", "attempts", "created_at"], rows))
    # Counted, not taken from rowcount: SQLAlchemy reports -1 for INSERT … SELECT on psycopg.
    return int(db.session.scalar(select(func.count()).where(Delivery.campaign_id == campaign_id)) or 0)
