"""A campaign and its resend to non-openers (mailer/resends.py) as a pair, for their reports: which is which, and the
pair's combined reach.

The combined reach counts the people who opened or clicked either message (unique opens, as docs/architecture.md
defines them), over the original's recipients. The resend went only to the original's non-openers, so the two
campaigns' unique opens add up, less those who opened both: someone who opened the original only after the resend
had fixed its audience, and then the resend too. That overlap is looked up from the resend's openers (few), each
by its original delivery's (subscriber, campaign) key; nothing else reads deliveries.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased

from core.db import db
from mailer.models import Campaign, Delivery
from mailer.resends import resend_of
from tracking.metrics import campaign_metrics, rate


@dataclass(frozen=True)
class ResendPair:
    """A campaign and its resend, and what the two reached."""

    original: Campaign
    resend: Campaign
    reached: int  # people who opened or clicked the original, the resend or both
    recipients: int  # the original's
    reach_rate: float | None


def pair_of(campaign: Campaign) -> ResendPair | None:
    """Return the pair the campaign belongs to (as the original or as the resend), or None."""
    original: Campaign | None = campaign
    resend: Campaign | None = campaign
    if campaign.resend_of is not None:
        original = db.session.get(Campaign, campaign.resend_of)
    else:
        resend = resend_of(campaign)
    if original is None or resend is None:
        return None
    first, second = campaign_metrics(original.id), campaign_metrics(resend.id)
    reached = first.unique_opens + second.unique_opens - _opened_both(original.id, resend.id)
    return ResendPair(original, resend, reached, first.recipients, rate(reached, first.recipients))


def _opened_both(original_id: int, resend_id: int) -> int:
    """Count the resend's openers (people) who opened the original too."""
    earlier = aliased(Delivery)
    return int(db.session.scalar(
        select(func.count()).select_from(Delivery).join(earlier, and_(
            earlier.subscriber_id == Delivery.subscriber_id, earlier.campaign_id == original_id, earlier.run_id == 0))
        .where(Delivery.campaign_id == resend_id, Delivery.first_open_at.is_not(None),
               earlier.first_open_at.is_not(None))) or 0)
