"""A campaign's send as its admin drives it: the moves between states, its progress, and the reconciler.

Starting fixes the audience and queues one job per KAIRAN_SEND_BATCH_SIZE deliveries
(mailer/starting.py); each job sends its batch (mailer/batch_job.py) over several SMTP
connections (mailer/batch_sender.py). The database, not Redis, says what is left to send: the
periodic reconciler here queues it again when no job is waiting for a running campaign (after
Redis was flushed, say).
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from core.db import db, utcnow
from core.errors import ValidationError
from core.i18n import time_left_text
from core.signals import reconciling
from mailer import eta, queries, scheduling
from mailer.batch_job import batch_size, campaigns_with_jobs, enqueue_batch, finish_if_done
from mailer.campaigns import require_legal_details
from mailer.models import Campaign, CampaignStatus
from mailer.starting import segment_rules, start

# listmonk's allowed moves between states, as PUT /api/campaigns/{id}/status takes them. Only the
# scheduler moves scheduled -> running, at send_at (mailer/scheduling.py); unscheduling goes back to draft.
MOVES = {
    CampaignStatus.DRAFT: {CampaignStatus.RUNNING, CampaignStatus.SCHEDULED},
    CampaignStatus.SCHEDULED: {CampaignStatus.DRAFT},
    CampaignStatus.RUNNING: {CampaignStatus.PAUSED, CampaignStatus.CANCELLED},
    CampaignStatus.PAUSED: {CampaignStatus.RUNNING, CampaignStatus.SCHEDULED, CampaignStatus.CANCELLED},
}


def change_status(campaign: Campaign, status: str) -> None:
    """Move a campaign to a new state as listmonk allows; starting or resuming queues its sending."""
    target = CampaignStatus(status) if status in set(CampaignStatus) else None
    if target is None or target not in MOVES.get(campaign.status, set()):
        raise ValidationError(_("A %(current)s campaign cannot become %(target)s.", current=campaign.status.value,
                                target=status))
    if target == CampaignStatus.RUNNING:
        start(campaign)
    elif target == CampaignStatus.SCHEDULED:
        require_legal_details(campaign)  # said now, not when the time comes
        scheduling.schedule(campaign)
    elif target == CampaignStatus.DRAFT:
        scheduling.unschedule(campaign)
    else:
        campaign.status = target
        db.session.commit()


def campaign_progress(campaign: Campaign) -> dict[str, Any]:
    """Return a campaign's progress for its page: counts, percent done, rate and time left."""
    counts = queries.progress(campaign.id)
    done = counts["sent"] + counts["failed"] + counts["suppressed"]
    total = campaign.to_send
    elapsed = (utcnow() - campaign.started_at).total_seconds() if campaign.started_at else 0
    rate = round(counts["sent"] / elapsed, 1) if elapsed > 0 else 0
    remaining = max(total - done, 0)
    left = eta.estimate(campaign, remaining, rate) if campaign.status == CampaignStatus.RUNNING else eta.Estimate(None)
    return {"status": campaign.status.value, "total": total, "sent": counts["sent"], "failed": counts["failed"],
            "remaining": remaining, "percent": round(100 * done / total) if total else 100, "rate": rate,
            "seconds_left": left.seconds, "time_left": time_left_text(left.seconds), "paced_by": left.paced_by}


def audience_size(campaign: Campaign) -> int:
    """Return how many recipients the campaign would have if it started now."""
    if not campaign.lists:
        return 0
    return queries.count_recipients(campaign.lists, segment_rules(campaign))


def reconcile() -> int:
    """Start due scheduled campaigns, and queue again what the database says is unsent for running campaigns
    no job is waiting for; return how many batches were queued.

    Run by a worker every KAIRAN_RECONCILE_SECONDS: after Redis was flushed or restarted, or a
    job was lost, the campaign still finishes without anyone acting.
    """
    reconciling.send()  # tracking flushes its event stream (core/signals.py)
    scheduling.start_due_campaigns()  # a flushed Redis lost their start jobs too
    waiting = campaigns_with_jobs()
    queued = 0
    running = db.session.scalars(select(Campaign.id).where(Campaign.status == CampaignStatus.RUNNING)).all()
    for campaign_id in running:
        if campaign_id not in waiting:
            for first_id, last_id in queries.delivery_ranges(campaign_id, batch_size(), due_only=True):
                enqueue_batch(campaign_id, first_id, last_id)
                queued += 1
        finish_if_done(campaign_id)
    return queued
