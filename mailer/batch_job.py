"""The RQ job that sends one batch of a campaign: the deliveries of one id range, KAIRAN_SEND_BATCH_SIZE at most.

A job leases its due rows (mailer/queries.py ``claim``), renders each message from the campaign
compiled once per worker process, and hands them to its connections (mailer/batch_sender.py).
It queues itself again for its rows that must wait (a back-off, a throttled domain, quiet hours),
and the job that leaves nothing queued or leased marks the campaign finished.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from flask import current_app
from rq.registry import ScheduledJobRegistry
from sqlalchemy import CursorResult, exists, select, update

from core.db import db, utcnow
from core.queues import QueueName, queue
from lists.models import Subscriber
from mailer import queries
from mailer.batch_sender import BatchSender
from mailer.campaigns import compile_campaign, get_campaign, save_links
from mailer.compiler import Compiled
from mailer.message import SendContext
from mailer.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from mailer.notices import after_batch
from mailer.throttle import quiet_until

SEND_JOB_PREFIX = "send-"  # send job ids are send-<campaign>-<first id>-<random>
COMPILED_KEPT = 8  # campaigns a worker keeps compiled

_compiled: dict[tuple[int, datetime], Compiled] = {}  # per worker process: send jobs run in it (core/cli.py)


def send_batch(campaign_id: int, first_id: int, last_id: int) -> int:
    """Send the due deliveries of one batch of a running campaign; return how many went out."""
    campaign = get_campaign(campaign_id)
    if campaign.status != CampaignStatus.RUNNING:
        return 0  # paused or cancelled: the rows stay queued (resuming queues them again)
    settings = current_app.config["KAIRAN"]
    quiet = quiet_until(utcnow(), campaign.quiet_start, campaign.quiet_end, settings.timezone)
    if quiet is not None:  # nothing is claimed: the batch simply runs again when the quiet hours end
        enqueue_batch(campaign_id, first_id, last_id, at=quiet)
        return 0
    claimed = queries.claim(campaign_id, first_id, last_id, settings.sending.lease_seconds)
    if claimed:
        compiled = _compiled_for(campaign)
        link_ids = save_links(campaign, compiled.urls)
        readers = {s.id: s for s in db.session.scalars(select(Subscriber).where(
            Subscriber.id.in_([c.subscriber_id for c in claimed if c.subscriber_id is not None])))}
        db.session.refresh(campaign)  # loaded again after save_links committed, then
        db.session.expunge_all()  # shared read-only, with the readers, by the connection threads
        sender = BatchSender(current_app._get_current_object(),  # type: ignore[attr-defined]
                             SendContext.of(campaign, compiled, link_ids), claimed, readers)
        sender.run()
        after_batch(campaign_id, sender.sender_rejections, sender.last_failure)
    upcoming = queries.next_retry(campaign_id, first_id, last_id)
    if upcoming is not None:  # 4xx back-offs and throttled domains: this batch runs again then
        enqueue_batch(campaign_id, first_id, last_id, at=upcoming)
    finish_if_done(campaign_id)
    return len(claimed) and sender.sent


def enqueue_batch(campaign_id: int, first_id: int, last_id: int, at: datetime | None = None) -> None:
    """Queue one batch job (at a time, when given); its id names the campaign so the reconciler can tell."""
    job_id = f"{SEND_JOB_PREFIX}{campaign_id}-{first_id}-{uuid.uuid4().hex[:8]}"
    send = queue(QueueName.SEND)
    if at is None:
        send.enqueue(send_batch, campaign_id, first_id, last_id, job_id=job_id)
    else:
        send.enqueue_at(at, send_batch, campaign_id, first_id, last_id, job_id=job_id)


def batch_size() -> int:
    """How many deliveries one batch job takes at most (KAIRAN_SEND_BATCH_SIZE)."""
    return int(current_app.config["KAIRAN"].sending.batch_size)


def campaigns_with_jobs() -> set[int]:
    """Return the campaigns with a send job queued or scheduled in Redis."""
    send = queue(QueueName.SEND)
    ids = [*send.get_job_ids(), *ScheduledJobRegistry(queue=send).get_job_ids()]
    return {int(job_id[len(SEND_JOB_PREFIX):].split("-")[0]) for job_id in ids if job_id.startswith(SEND_JOB_PREFIX)}


def finish_if_done(campaign_id: int) -> bool:
    """Mark a running campaign finished once no delivery is queued or being sent; tell whether it is."""
    unsent = exists().where(Delivery.campaign_id == campaign_id,
                            Delivery.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.SENDING]))
    finish = (update(Campaign).where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.RUNNING, ~unsent)
              .values(status=CampaignStatus.FINISHED, updated_at=utcnow()))
    result = cast(CursorResult[Any], db.session.execute(finish))
    if result.rowcount:  # no delivery of it changes state from now on: count them once
        queries.settle(campaign_id)
    db.session.commit()
    return bool(result.rowcount)


def _compiled_for(campaign: Campaign) -> Compiled:
    """Compile a campaign once per worker (and again only after it was edited)."""
    key = (campaign.id, campaign.updated_at)
    if key not in _compiled:
        if len(_compiled) >= COMPILED_KEPT:
            del _compiled[next(iter(_compiled))]  # the oldest: a worker's memory stays flat
        _compiled[key] = compile_campaign(campaign)
    return _compiled[key]
