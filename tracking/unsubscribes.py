"""Crediting a campaign with the unsubscribes that came from its messages (for its metrics)."""

from __future__ import annotations

from sqlalchemy import update

from core.db import db, utcnow
from mailer.models import Delivery
from tracking.metrics_cache import changed_on_commit


def record_unsubscribe(_sender: object = None, *, subscriber_id: int, delivery_id: int) -> None:
    """lists' signal: mark the delivery whose link or List-Unsubscribe was used (the first time only).

    The token was signed for this subscriber and delivery; the subscriber check keeps a token of
    another installation's ids from crediting a stranger's delivery all the same.
    """
    campaign_ids = list(db.session.scalars(
        update(Delivery).where(Delivery.id == delivery_id, Delivery.subscriber_id == subscriber_id,
                               Delivery.unsubscribed_at.is_(None))
        .values(unsubscribed_at=utcnow()).returning(Delivery.campaign_id),
        execution_options={"synchronize_session": False}))
    changed_on_commit(db.session, campaign_ids)
    db.session.commit()
