"""Forgetting old consent records (KAIRAN_CONSENT_RETENTION_DAYS), never one an address is still mailed on.

A subscriber's records for a list are kept, all of them, while the subscription is live (unconfirmed or
confirmed): they are the proof the mail is wanted. Once it is not (unsubscribed, or removed from the list), the
records go together when the latest of them is older than the retention: the law asks for them until a month after
the last mail, and the latest record is when that mail stopped. A deleted subscriber's records went with them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, delete, exists, func, select

from core.db import db, utcnow
from lists.models import ConsentRecord, Subscription, SubscriptionStatus
from lists.settings import CONSENT

SWEEP_SECONDS = 24 * 3600  # a daily sweep: retention is counted in days


def sweep() -> int:
    """Delete the consent records past retention that no live subscription needs; return how many. Commits."""
    days = CONSENT.current().retention_days
    if days is None:
        return 0
    cutoff = utcnow() - timedelta(days=days)
    live = exists().where(Subscription.subscriber_id == ConsentRecord.subscriber_id,
                          Subscription.list_id == ConsentRecord.list_id,
                          Subscription.status != SubscriptionStatus.UNSUBSCRIBED)
    latest = (select(ConsentRecord.subscriber_id, ConsentRecord.list_id).group_by(ConsentRecord.subscriber_id,
              ConsentRecord.list_id).having(func.max(ConsentRecord.created_at) < cutoff).subquery())
    stale = exists().where(and_(latest.c.subscriber_id == ConsentRecord.subscriber_id,
                                latest.c.list_id == ConsentRecord.list_id))
    deleted = cast(CursorResult[Any], db.session.execute(delete(ConsentRecord).where(stale, ~live))).rowcount
    db.session.commit()
    return int(deleted or 0)
