"""A campaign's send as its admin drives it: the moves between states, its progress, and the reconciler.

Starting fixes the audience and queues one job per KAIRAN_SEND_BATCH_SIZE deliveries
(mailer/starting.py); each job sends its batch (mailer/batch_job.py) over several SMTP
connections (mailer/batch_sender.py). The database, not Redis, says what is left to send: the
periodic reconciler here queues again what no job waits to take (after Redis was flushed, a
worker died, or no scheduler released a batch put off till later).
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime
from typing import Any

from flask_babel import format_datetime
from flask_babel import gettext as _
from sqlalchemy import select

from core.db import db, utcnow
from core.i18n import time_left_text
from core.signals import reconciling
from mailer import ab, eta, queries, scheduling
from mailer.batch_job import EVERY_ID, batch_size, enqueue_batch, finish_if_done, id_ranges, waiting_batches
from mailer.campaigns import require_legal_details
from mailer.errors import CampaignStatusError
from mailer.models import Campaign, CampaignKind, CampaignStatus
from mailer.scheduling import local_zone
from mailer.starting import segment_rules, start
from mailer.template_context import fix_sender
from mailer.throttle import quiet_until

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
    if campaign.kind == CampaignKind.AUTOMATION:  # it runs while its automation is active, and only then
        raise CampaignStatusError(_("This is an automation's message: activate or pause its automation instead."))
    if target is None or target not in MOVES.get(campaign.status, set()):
        raise CampaignStatusError(_("A %(current)s campaign cannot become %(target)s.", current=campaign.status.value,
                                    target=status))
    if target in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED) and (
            campaign.started_at is None or campaign.sender_address is None):
        fix_sender(campaign)  # this machine's, where a person acts: every worker then prints the same footer
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
    held = queries.count_held(campaign.id) if ab.test_of(campaign) is not None else 0  # wait for the A/B winner
    remaining = max(total - done - held, 0)
    running = campaign.status == CampaignStatus.RUNNING
    left = eta.estimate(campaign, remaining, rate) if running else eta.Estimate(None)
    opens = _window_opens(campaign) if running and remaining else None
    if opens is not None:  # nothing goes out before the sending window opens: say so, not "not known yet"
        wait = (opens - utcnow()).total_seconds()
        left = eta.Estimate(round(wait + (left.seconds or 0)), _(
            "Outside the sending window: sending starts at %(time)s.",
            time=format_datetime(opens.astimezone(local_zone()), "short")))
    return {"status": campaign.status.value, "total": total, "sent": counts["sent"], "failed": counts["failed"],
            "remaining": remaining, "held": held, "percent": round(100 * done / total) if total else 100, "rate": rate,
            "seconds_left": left.seconds, "time_left": time_left_text(left.seconds) if running else "",
            "paced_by": left.paced_by}


def _window_opens(campaign: Campaign) -> datetime | None:
    """When a campaign's sending window next opens, if the present lies outside it (its quiet hours)."""
    return quiet_until(utcnow(), campaign.quiet_start, campaign.quiet_end, local_zone().key)


def audience_size(campaign: Campaign) -> int:
    """Return how many recipients the campaign would have if it started now."""
    if not campaign.lists:
        return 0
    return queries.count_recipients(campaign.lists, segment_rules(campaign))


def reconcile() -> int:
    """Start due scheduled campaigns, and queue again the due deliveries of running campaigns that no job waits
    to take; return how many batches were queued.

    Run by a worker every KAIRAN_RECONCILE_SECONDS, so a campaign finishes without anyone acting after
    Redis was flushed or restarted (no job waits for it: everything due is queued), after a worker died
    and its rows were not taken back, or when no scheduler released a batch put off till later (a lapsed
    lease or an ended wait outside every waiting job's range is queued).
    """
    reconciling.send()  # tracking flushes its event stream (core/signals.py)
    scheduling.start_due_campaigns()  # a flushed Redis lost their start jobs too
    waiting = waiting_batches()
    queued = 0
    running = db.session.scalars(select(Campaign.id).where(Campaign.status == CampaignStatus.RUNNING)).all()
    for campaign_id in running:
        covered = _merged(waiting.get(campaign_id, []))
        ranges = (id_ranges([i for i in queries.stranded(campaign_id) if not _within(i, covered)], batch_size())
                  if covered else queries.delivery_ranges(campaign_id, batch_size(), due_only=True))
        for first_id, last_id in ranges:
            enqueue_batch(campaign_id, first_id, last_id)
        queued += len(ranges)
        finish_if_done(campaign_id)
    return queued


def _within(delivery_id: int, ranges: list[tuple[int, int]]) -> bool:
    """Tell whether an id lies in one of these disjoint (first, last) ranges, sorted (``_merged``)."""
    at = bisect_right(ranges, (delivery_id, EVERY_ID)) - 1
    return at >= 0 and ranges[at][0] <= delivery_id <= ranges[at][1]


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge overlapping (first, last) ranges into disjoint ones, sorted."""
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged
