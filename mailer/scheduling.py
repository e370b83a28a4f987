"""Scheduling: a campaign waits in ``scheduled`` until its send_at, then starts like "Send now".

Two things start a due campaign, and either alone is enough: an RQ job queued for send_at with
RQ's scheduler (one per campaign, so scheduling again moves it), and ``start_due_campaigns``,
which the sending reconciler runs periodically so a flushed Redis never strands a campaign.
Both claim the campaign with one conditional UPDATE (scheduled and due -> running), in the
same transaction as the start, so two of them at once start it once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import CursorResult, select, update

from core import audit
from core.db import db, utcnow
from core.errors import KairanError
from core.queues import queue, redis
from lists.errors import NoListsChosenError
from mailer.campaigns import check_future, compile_campaign, get_campaign
from mailer.errors import CampaignStatusError, SendTimeError
from mailer.models import Campaign, CampaignStatus
from mailer.queues import SEND_QUEUE
from mailer.starting import start

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> posts


def local_zone() -> ZoneInfo:
    """The installation's timezone (KAIRAN_TIMEZONE), in which the UI shows and takes times."""
    return ZoneInfo(current_app.config["KAIRAN"].timezone)


def parse_local_time(value: str) -> datetime:
    """Read a date and time typed in the installation's timezone (``2026-05-01T09:00``); return it in UTC."""
    try:
        naive = datetime.strptime(value.strip()[:16], DATETIME_LOCAL)
    except ValueError:
        raise SendTimeError(_("Enter the date and time to send at.")) from None
    zone = local_zone()
    aware = naive.replace(tzinfo=zone)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:  # skipped by a clock change
        raise SendTimeError(_("%(time)s does not exist in %(zone)s (the clocks skip it).", time=value,
                              zone=zone.key))
    return aware.astimezone(UTC)


def local_input_value(moment: datetime | None) -> str:
    """Format a stored UTC time for a datetime-local input in the installation's timezone."""
    return moment.astimezone(local_zone()).strftime(DATETIME_LOCAL) if moment else ""


def schedule(campaign: Campaign) -> None:
    """Move a draft or paused campaign to scheduled at its send_at, checked as a start would check it."""
    if campaign.send_at is None:
        raise SendTimeError(_("Set a send time (send_at) before scheduling the campaign."))
    check_future(campaign.send_at)
    if not campaign.lists:
        raise NoListsChosenError(_("Choose at least one list to send to."))
    compile_campaign(campaign)  # a template error is refused now, not found at send time
    campaign.status = CampaignStatus.SCHEDULED
    db.session.commit()
    queue_start(campaign)


def queue_start(campaign: Campaign) -> None:
    """Queue (or move) the campaign's start job to its send_at; scheduling again replaces the job."""
    if campaign.status == CampaignStatus.SCHEDULED and campaign.send_at is not None:
        queue(SEND_QUEUE).enqueue_at(campaign.send_at, start_if_due, campaign.id,
                                         job_id=_job_id(campaign.id))


def unschedule(campaign: Campaign) -> None:
    """Move a scheduled campaign back to draft (send_at is kept, to schedule it again); refuse once it started."""
    moved = cast(CursorResult[Any], db.session.execute(
        update(Campaign).where(Campaign.id == campaign.id, Campaign.status == CampaignStatus.SCHEDULED)
        .values(status=CampaignStatus.DRAFT, updated_at=utcnow())))
    if moved.rowcount:
        _audit(campaign, CampaignStatus.SCHEDULED, CampaignStatus.DRAFT)
    db.session.commit()
    db.session.refresh(campaign)
    if not moved.rowcount:
        raise CampaignStatusError(_("The campaign is no longer scheduled (it is %(status)s).",
                                  status=campaign.status.value))
    try:
        Job.fetch(_job_id(campaign.id), connection=redis()).delete()
    except NoSuchJobError:
        pass  # already run, or Redis was flushed: the job would have found the campaign unscheduled anyway


def start_if_due(campaign_id: int) -> bool:
    """RQ job: start the campaign if it is still scheduled and due; tell whether this call started it."""
    send_at = db.session.scalar(select(Campaign.send_at).where(Campaign.id == campaign_id,
                                                               Campaign.status == CampaignStatus.SCHEDULED))
    db.session.rollback()
    if send_at is not None and send_at > utcnow():  # moved later since this job was queued
        queue(SEND_QUEUE).enqueue_at(send_at, start_if_due, campaign_id,
                                         job_id=_job_id(campaign_id))
        return False
    return _claim_and_start(campaign_id)


def start_due_campaigns() -> int:
    """Start every scheduled campaign whose send_at has passed; return how many this call started."""
    due = list(db.session.scalars(select(Campaign.id).where(Campaign.status == CampaignStatus.SCHEDULED,
                                                            Campaign.send_at <= utcnow()).order_by(Campaign.send_at)))
    db.session.rollback()  # end the read, so each claim below takes the write lock afresh
    return sum(_claim_and_start(campaign_id) for campaign_id in due)


def _claim_and_start(campaign_id: int) -> bool:
    """Claim a due scheduled campaign and start it in one transaction; on a refusal, pause it saying why.

    The claim's UPDATE holds the row (PostgreSQL) or the write lock (SQLite) until start() commits,
    so a second claimer waits and then finds it running: it is started once.
    """
    claimed = cast(CursorResult[Any], db.session.execute(
        update(Campaign).where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.SCHEDULED,
                               Campaign.send_at <= utcnow())
        .values(status=CampaignStatus.RUNNING).execution_options(synchronize_session=False)))
    if not claimed.rowcount:
        db.session.rollback()
        return False
    campaign = get_campaign(campaign_id)
    db.session.refresh(campaign)
    try:
        start(campaign)
    except KairanError as error:  # e.g. its lists were deleted since it was scheduled
        db.session.rollback()
        db.session.execute(update(Campaign).where(Campaign.id == campaign_id,
                                                  Campaign.status == CampaignStatus.SCHEDULED)
                           .values(status=CampaignStatus.PAUSED, notice=error.message, updated_at=utcnow()))
        _audit(campaign, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED)
        db.session.commit()
        return False
    # Recorded once started, in a commit of its own: the audit log's lock is not held through the materialising.
    _audit(campaign, CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)
    db.session.commit()
    return True


def _audit(campaign: Campaign, before: CampaignStatus, after: CampaignStatus) -> None:
    """Record a status change these UPDATEs made (the flush hook sees only the ORM's), as it records others."""
    audit.record(f"campaign.{after.value}", audit.Target("campaign", campaign.id, campaign.name),
                 {"status": before.value}, {"status": after.value})


def _job_id(campaign_id: int) -> str:
    return f"campaign-{campaign_id}-scheduled-start"


def soon() -> datetime:
    """The default a schedule form offers: the next full hour that is at least 30 minutes away."""
    moment = (utcnow() + timedelta(minutes=90)).astimezone(local_zone())
    return moment.replace(minute=0, second=0, microsecond=0)
