"""Crediting a campaign with the unsubscribes that came from its messages (for its metrics)."""

from __future__ import annotations

import logging

from sqlalchemy import update

from core.db import db, utcnow
from core.tokens import Mark, read_mark_token
from lists.consent_evidence import coded
from lists.models import ConsentMethod, Subscriber
from lists.public import unsubscribe
from lists.subscribers import Consent
from mailer.models import Delivery
from tracking.metrics_cache import changed_on_commit

log = logging.getLogger(__name__)


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


def unsubscribe_by_mail(token: str) -> bool:
    """Unsubscribe the reader of the delivery a List-Unsubscribe mailto: address names; False for a forged token.

    As the one-click link does: from every list, recorded as consent evidence, credited to the campaign.
    """
    ids = read_mark_token(Mark.UNSUBSCRIBE, token)
    delivery = db.session.get(Delivery, ids[0]) if ids is not None and len(ids) == 1 else None
    subscriber = db.session.get(Subscriber, delivery.subscriber_id) if delivery and delivery.subscriber_id else None
    if subscriber is None:
        log.warning("an unsubscribe mail named no delivery of ours: %s", token)
        return False
    unsubscribe(subscriber, Consent(ConsentMethod.EMAIL_LINK, evidence=coded("mailto")),
                delivery_id=delivery.id if delivery else None)
    return True
