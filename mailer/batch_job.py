"""The RQ job that sends one batch of a campaign: the deliveries of one id range, KAIRAN_SEND_BATCH_SIZE at most.

A job leases its due rows (mailer/queries.py ``claim``) and renews the lease while it sends
(mailer/leases.py), renders each message from the campaign compiled once per worker process, and
hands them to its connections (mailer/batch_sender.py). It queues itself again for its rows that
must wait (a back-off, a throttled domain, quiet hours), and the job that leaves nothing queued or
leased marks the campaign finished. Each job logs what its batch came to.

A lease that ends is one its worker stopped renewing: the worker died. Every fifth of the lease a worker
(whichever is due, core/queues.py's periodic jobs: no scheduler is involved) takes such rows back and queues
them ahead of their campaigns' other batches (``take_back_lapsed_leases``).
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from rq.registry import ScheduledJobRegistry
from sqlalchemy import CursorResult, exists, select, update

from core import audit
from core.batches import batched
from core.db import db, utcnow
from core.queues import queue
from core.scheduler import LOCK_SECONDS
from core.signals import campaign_finished
from lists.models import Subscriber
from mailer import ab, queries
from mailer.batch_sender import BatchSender
from mailer.campaigns import compile_campaign, get_campaign, save_links
from mailer.compiler import Compiled
from mailer.leases import LeaseKeeper
from mailer.message import SendContext
from mailer.models import Campaign, CampaignKind, CampaignStatus, Delivery, DeliveryStatus
from mailer.notices import after_batch
from mailer.queues import SEND_QUEUE
from mailer.throttle import quiet_until

log = logging.getLogger(__name__)

SEND_JOB_PREFIX = "send-"  # send job ids are send-<campaign>-<first id>-<last id>-<random>
COMPILED_KEPT = 8  # campaigns a worker keeps compiled
# A scheduled batch this long overdue was never released (a scheduler takes over sooner): the reconciler queues it.
OVERDUE = timedelta(seconds=LOCK_SECONDS + 2)
EVERY_ID = 2 ** 63  # past the largest delivery id

# Per worker process (send jobs run in it: core/cli.py), by campaign, its edit, and A/B variant (0: none).
_compiled: dict[tuple[int, datetime, int], Compiled] = {}


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
    lease = settings.sending.lease_seconds
    claimed = queries.claim(campaign_id, first_id, last_id, lease)
    if claimed:
        began = time.monotonic()
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        with LeaseKeeper(app, [c.id for c in claimed], lease):
            # An A/B test's deliveries each get their variant's message: compiled once per variant, not per message.
            # The rest of the audience (variant 0) gets the winner: compiled under the winner's position.
            positions = {variant: ab.position_sent(campaign, variant)
                         for variant in sorted({c.variant for c in claimed})}
            versions = {variant: ab.as_sent(campaign, ab.variant_at(campaign, position))
                        for variant, position in positions.items()}
            compiled = {variant: _compiled_for(campaign, version, positions[variant])
                        for variant, version in versions.items()}
            link_ids = {variant: save_links(campaign, each.urls) for variant, each in compiled.items()}
            # A campaign's reader who left its lists, was blocked or suppressed since its audience was fixed (an A/B
            # test's rest waits up to 72 hours) is not sent it: the batch sender marks them suppressed.
            still = [queries.still_receiving(campaign.lists)] if campaign.kind == CampaignKind.REGULAR else []
            readers = {s.id: s for s in db.session.scalars(select(Subscriber).where(
                Subscriber.id.in_([c.subscriber_id for c in claimed if c.subscriber_id is not None]), *still))}
            db.session.refresh(campaign)  # loaded again after save_links committed, then
            name = campaign.name
            contexts = {variant: SendContext.of(version, compiled[variant], link_ids[variant])
                        for variant, version in versions.items()}
            db.session.expunge_all()  # shared read-only, with the readers, by the connection threads
            sender = BatchSender(app, contexts, claimed, readers)
            sender.run()
        after_batch(campaign_id, sender.sender_rejections, sender.last_failure)
        log.info("campaign %d %r, deliveries %d-%d: %s in %.1f s", campaign_id, name, first_id, last_id,
                 ", ".join(f"{count} {outcome}" for outcome, count in sorted(sender.outcomes.items())),
                 time.monotonic() - began)
    upcoming = queries.next_retry(campaign_id, first_id, last_id)
    if upcoming is not None:  # 4xx back-offs, throttled domains, send-time slots: this batch runs again then
        enqueue_batch(campaign_id, first_id, last_id, at=upcoming if upcoming > utcnow() else None)
    finish_if_done(campaign_id)
    return len(claimed) and sender.sent


def enqueue_batch(campaign_id: int, first_id: int, last_id: int, at: datetime | None = None, *,
                  first_in_line: bool = False) -> None:
    """Queue one batch job (at a time, when given; ahead of the queued ones when ``first_in_line``); its id
    names the campaign and the id range, so the reconciler can tell what is waiting."""
    job_id = f"{SEND_JOB_PREFIX}{campaign_id}-{first_id}-{last_id}-{uuid.uuid4().hex[:8]}"
    send = queue(SEND_QUEUE)
    if at is None:
        send.enqueue(send_batch, campaign_id, first_id, last_id, job_id=job_id, at_front=first_in_line)
    else:
        send.enqueue_at(at, send_batch, campaign_id, first_id, last_id, job_id=job_id)


def take_back_lapsed_leases() -> int:
    """Periodic job: put back in the queue the deliveries of running campaigns whose lease ended unrenewed (their
    worker died) and queue them ahead of their campaigns' other batches; return how many came back.

    It runs on the default queue, which workers take before campaign batches, every fifth of the lease: a dead
    host's rows are queued again within about 1½ leases of its death (a check's interval, and the wait for
    a worker's maintenance, which queues periodic jobs as often), whether or not it held a scheduler.
    """
    back = 0
    running = db.session.scalars(select(Campaign.id).where(Campaign.status == CampaignStatus.RUNNING)).all()
    for campaign_id in running:  # each take-back commits
        lapsed = queries.take_back_lapsed(campaign_id)
        for first_id, last_id in id_ranges(lapsed, batch_size()):
            enqueue_batch(campaign_id, first_id, last_id, first_in_line=True)
        if lapsed:
            log.warning("campaign %d: %d deliveries whose worker stopped renewing their lease are queued again",
                        campaign_id, len(lapsed))
        back += len(lapsed)
    return back


def lease_check_seconds(lease_seconds: int) -> int:
    """How often lapsed leases are looked for: a fifth of the lease, a second at least."""
    return max(1, lease_seconds // 5)


def id_ranges(ids: list[int], size: int) -> list[tuple[int, int]]:
    """Split sorted delivery ids into (first, last) ranges of at most ``size`` of them."""
    return [(chunk[0], chunk[-1]) for chunk in batched(ids, size)]


def batch_size() -> int:
    """How many deliveries one batch job takes at most (KAIRAN_SEND_BATCH_SIZE)."""
    return int(current_app.config["KAIRAN"].sending.batch_size)


def waiting_batches() -> dict[int, list[tuple[int, int]]]:
    """Per campaign, the delivery id ranges a send job waits to take: queued, or scheduled for a time that has
    not long passed (one OVERDUE was never released: its rows are left for the reconciler to queue)."""
    send = queue(SEND_QUEUE)
    registry = ScheduledJobRegistry(queue=send)
    overdue = set(registry.get_jobs_to_schedule(int((utcnow() - OVERDUE).timestamp())))
    waiting: dict[int, list[tuple[int, int]]] = {}
    for job_id in [*send.get_job_ids(), *(job_id for job_id in registry.get_job_ids() if job_id not in overdue)]:
        if job_id.startswith(SEND_JOB_PREFIX):
            campaign, first, *last = job_id[len(SEND_JOB_PREFIX):].split("-")[:-1]  # the random part dropped
            # A job queued before ids named their last row: taken to cover the whole campaign, as all once were.
            covered = (int(first), int(last[0])) if last else (0, EVERY_ID)
            waiting.setdefault(int(campaign), []).append(covered)
    return waiting


def finish_if_done(campaign_id: int) -> bool:
    """Mark a running campaign finished once no delivery is queued or being sent; tell whether it is."""
    unsent = exists().where(Delivery.campaign_id == campaign_id,
                            Delivery.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.SENDING]))
    # An automation's message is running as long as its automation is: runs reach it one by one, at any time.
    # An A/B test's campaign runs on while the rest of its audience waits for the winner.
    finish = (update(Campaign).where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.RUNNING,
                                     Campaign.kind == CampaignKind.REGULAR, ~unsent, ~ab.awaiting_winner(campaign_id))
              .values(status=CampaignStatus.FINISHED, updated_at=utcnow()))
    result = cast(CursorResult[Any], db.session.execute(finish))
    if result.rowcount:  # no delivery of it changes state from now on: count them once
        queries.settle(campaign_id)
        campaign_finished.send(campaign_id=campaign_id)
        # A bulk UPDATE, which the audit log's row hook does not see: recorded here
        name = db.session.scalar(select(Campaign.name).where(Campaign.id == campaign_id))
        audit.record("campaign.finished", audit.Target("campaign", campaign_id, name))
    db.session.commit()
    return bool(result.rowcount)


def _compiled_for(campaign: Campaign, version: Campaign, variant: int) -> Compiled:
    """Compile a campaign (one variant's version of it) once per worker, and again only after it was edited."""
    key = (campaign.id, campaign.updated_at, variant)
    if key not in _compiled:
        if len(_compiled) >= COMPILED_KEPT:
            del _compiled[next(iter(_compiled))]  # the oldest: a worker's memory stays flat
        _compiled[key] = compile_campaign(version)
    return _compiled[key]
