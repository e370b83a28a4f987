"""Sending a campaign: its lifecycle, and the RQ job that sends one batch of its deliveries.

Starting fixes the audience (one delivery row per recipient, mailer/queries.py), records the
tracked links, and queues one job per BATCH_SIZE deliveries on the send queue. A job leases its
rows, renders each message from the campaign compiled once per worker, builds and sends it over
one SMTP connection, and records each message before the next goes out: a worker killed at
any moment leaves its unrecorded rows leased, and they are sent again when the lease ends.
The database, not Redis, says what is left to send.
"""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import make_msgid, parseaddr
from typing import Any, cast

from flask import current_app
from flask_babel import gettext as _
from rq import Retry
from sqlalchemy import CursorResult, exists, select, update

from core.db import db, utcnow
from core.errors import ValidationError
from core.queues import QueueName, queue
from lists.models import Subscriber
from mailer import queries, transport
from mailer.campaigns import compile_campaign, get_campaign, reader_context, save_links
from mailer.compiler import Compiled
from mailer.domains import signer_for
from mailer.mime import Built, build, mailbox, quoted
from mailer.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from mailer.signing import DKIMSigner, Header

BATCH_SIZE = 500  # deliveries per job: a job's lease and retry stay small, and every worker gets work
LEASE_SECONDS = 300  # a batch is sent well within this; after it, a dead worker's rows are sent again
RETRY = Retry(max=5, interval=[10, 30, 60, 120, 300])  # a relay that fails: the batch waits, then tries again
# listmonk's allowed moves between states, as PUT /api/campaigns/{id}/status takes them. Scheduling
# (draft or paused -> scheduled, scheduled -> draft or running) joins when the scheduler runs campaigns.
MOVES = {
    CampaignStatus.DRAFT: {CampaignStatus.RUNNING},
    CampaignStatus.RUNNING: {CampaignStatus.PAUSED, CampaignStatus.CANCELLED},
    CampaignStatus.PAUSED: {CampaignStatus.RUNNING, CampaignStatus.CANCELLED},
}

_compiled: dict[tuple[int, datetime], Compiled] = {}  # per worker process


def change_status(campaign: Campaign, status: str) -> None:
    """Move a campaign to a new state as listmonk allows; starting or resuming queues its sending."""
    target = CampaignStatus(status) if status in set(CampaignStatus) else None
    if target is None or target not in MOVES.get(campaign.status, set()):
        raise ValidationError(_("A %(current)s campaign cannot become %(target)s.", current=campaign.status.value,
                                target=status))
    if target == CampaignStatus.RUNNING:
        start(campaign)
        return
    campaign.status = target
    db.session.commit()


def start(campaign: Campaign) -> None:
    """Fix the audience (first start only), record the links, and queue the batches."""
    if not campaign.lists:
        raise ValidationError(_("Choose at least one list to send to."))
    compiled = compile_campaign(campaign)  # a template error stops the start here, not in a worker
    first_start = campaign.started_at is None
    if first_start:
        segment_rules = _segment_rules(campaign)
        campaign.to_send = queries.materialise(campaign.id, campaign.lists, segment_rules)
        campaign.started_at = utcnow()
    campaign.status = CampaignStatus.RUNNING
    db.session.commit()
    save_links(campaign, compiled.urls)
    for first_id, last_id in queries.batch_bounds(campaign.id, BATCH_SIZE):
        queue(QueueName.SEND).enqueue("mailer.sending.send_batch", campaign.id, first_id, last_id, retry=RETRY)
    finish_if_done(campaign.id)


def _segment_rules(campaign: Campaign) -> Any:
    if campaign.segment_id is None:
        return None
    from lists.models import Segment  # the audience's rules, as saved

    segment = db.session.get(Segment, campaign.segment_id)
    return segment.rules if segment else None


def campaign_progress(campaign: Campaign) -> dict[str, Any]:
    """Return a campaign's progress for its page: counts, percent done, rate and time left."""
    counts = queries.progress(campaign.id)
    done = counts["sent"] + counts["failed"] + counts["suppressed"]
    total = campaign.to_send
    elapsed = (utcnow() - campaign.started_at).total_seconds() if campaign.started_at else 0
    rate = round(counts["sent"] / elapsed, 1) if elapsed > 0 else 0
    remaining = max(total - done, 0)
    return {"status": campaign.status.value, "total": total, "sent": counts["sent"], "failed": counts["failed"],
            "remaining": remaining, "percent": round(100 * done / total) if total else 100, "rate": rate,
            "seconds_left": round(remaining / rate) if rate and campaign.status == CampaignStatus.RUNNING else None}


def audience_size(campaign: Campaign) -> int:
    """Return how many recipients the campaign would have if it started now."""
    if not campaign.lists:
        return 0
    return queries.count_recipients(campaign.lists, _segment_rules(campaign))


def finish_if_done(campaign_id: int) -> bool:
    """Mark a running campaign finished once no delivery is queued or being sent; tell whether it is."""
    unsent = exists().where(Delivery.campaign_id == campaign_id,
                            Delivery.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.SENDING]))
    finish = (update(Campaign).where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.RUNNING, ~unsent)
              .values(status=CampaignStatus.FINISHED, updated_at=utcnow()))
    result = cast(CursorResult[Any], db.session.execute(finish))
    db.session.commit()
    return bool(result.rowcount)


def _compiled_for(campaign: Campaign) -> Compiled:
    """Compile a campaign once per worker (and again only after it was edited)."""
    key = (campaign.id, campaign.updated_at)
    if key not in _compiled:
        _compiled[key] = compile_campaign(campaign)
    return _compiled[key]


def send_batch(campaign_id: int, first_id: int, last_id: int) -> int:
    """Send one batch of a running campaign's deliveries; return how many went out."""
    campaign = get_campaign(campaign_id)
    if campaign.status != CampaignStatus.RUNNING:
        return 0  # paused or cancelled: the rows stay queued (resuming queues them again)
    claimed = queries.claim(campaign_id, first_id, last_id, LEASE_SECONDS)
    if not claimed:
        return 0
    batch = Batch.of(campaign, _compiled_for(campaign))
    readers = {s.id: s for s in db.session.scalars(select(Subscriber).where(
        Subscriber.id.in_([subscriber_id for _id, subscriber_id in claimed if subscriber_id is not None])))}
    sent = 0
    pending = {delivery_id for delivery_id, _subscriber in claimed}
    try:
        with transport.current_relay().connect() as connection:
            for delivery_id, subscriber_id in claimed:
                if sent % 50 == 0 and _stopped(campaign_id):
                    break  # paused or cancelled meanwhile: what is left goes back to the queue
                reader = readers.get(subscriber_id or 0)
                if reader is None:  # wiped since the audience was fixed
                    queries.record(delivery_id, DeliveryStatus.SUPPRESSED)
                    pending.discard(delivery_id)
                    continue
                _send_one(connection, batch, reader, delivery_id)
                pending.discard(delivery_id)
                sent += 1
    finally:
        queries.release(sorted(pending))  # whatever this job did not finish, another one will
    finish_if_done(campaign_id)
    return sent


def _stopped(campaign_id: int) -> bool:
    status = db.session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
    return status != CampaignStatus.RUNNING


@dataclass(frozen=True)
class Batch:
    """What every message of a campaign shares: its compiled form, sender and signer."""

    campaign: Campaign
    compiled: Compiled
    from_: bytes
    sender: str
    domain: str
    signer: DKIMSigner | None  # the From domain's key, when it is a sending domain

    @classmethod
    def of(cls, campaign: Campaign, compiled: Compiled) -> Batch:
        """Work out a campaign's sender once (the configured sender when the campaign names none)."""
        name, sender = parseaddr(campaign.from_email or current_app.config["KAIRAN"].mail_from)
        return cls(campaign, compiled, mailbox(name, sender), sender, sender.rpartition("@")[2], signer_for(sender))


def campaign_message(batch: Batch, reader: Subscriber | None, to: bytes,
                     extra: Sequence[Header] = ()) -> tuple[Built, str]:
    """Build one reader's message with every header of the sending rules; return it and its Message-ID.

    The send and the test sends both build here, so a test looks exactly as the real mail will.
    """
    campaign, domain = batch.campaign, batch.domain
    context = reader_context(campaign, reader)
    html, text = batch.compiled.render(context)  # tracked click URLs join with the measure issue
    message_id = make_msgid(domain=domain)
    headers = [(b"List-Unsubscribe", f"<{context['unsubscribe_url']}>".encode()),
               (b"List-Unsubscribe-Post", b"List-Unsubscribe=One-Click"),
               (b"List-Id", f"<{campaign.uuid}.{domain}>".encode()),
               (b"Feedback-ID", f"{campaign.id}:{campaign.lists[0] if campaign.lists else 0}:kairan:{domain}".encode()),
               *extra]
    built = build(from_=batch.from_, to=to, subject=batch.compiled.render_subject(context), text=text, html=html,
                  message_id=message_id, date=datetime.now(UTC), extra=headers, charset=campaign.charset,
                  signer=batch.signer)
    return built, message_id


def _send_one(connection: smtplib.SMTP, batch: Batch, reader: Subscriber, delivery_id: int) -> None:
    """Build and hand over one message, then record it."""
    built, message_id = campaign_message(batch, reader, mailbox(reader.name, reader.email))
    try:
        connection.sendmail(batch.sender, [quoted(reader.email)], built.as_bytes())
    except smtplib.SMTPRecipientsRefused as refused:
        code, reply = next(iter(refused.recipients.values()))
        if code >= 500:  # the relay will never take this one: failed, with its answer kept
            queries.record(delivery_id, DeliveryStatus.FAILED, reply=f"{code} {reply.decode(errors='replace')}")
            return
        raise  # 4xx: the job fails, its rows go back, and RQ retries the batch later
    queries.record(delivery_id, DeliveryStatus.SENT, message_id=message_id)
