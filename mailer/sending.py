"""Sending a campaign: its lifecycle, and the RQ job that sends one batch of its deliveries.

Starting fixes the audience (one delivery row per recipient, mailer/queries.py), records the
tracked links, and queues one job per KAIRAN_SEND_BATCH_SIZE deliveries on the send queue. A job
leases its due rows, renders each message from the campaign compiled once per worker process, and sends
over several SMTP connections at once (BatchSender), within the rate limits every worker shares
(mailer/throttle.py). Each connection records each message before it sends the next: a worker
killed at any moment leaves its unrecorded rows leased, and they are sent again when the lease
ends. A 4xx answer puts the delivery back with a back-off; a 5xx fails it (mailer/replies.py).
The database, not Redis, says what is left to send: a periodic reconciler queues it again when
no job is waiting for a running campaign (after Redis was flushed, say).
"""

from __future__ import annotations

import contextlib
import logging
import random
import smtplib
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import make_msgid, parseaddr
from queue import Empty, SimpleQueue
from typing import Any, cast

from flask import Flask, current_app, url_for
from flask_babel import gettext as _
from rq.registry import ScheduledJobRegistry
from sqlalchemy import CursorResult, exists, select, update

from core.db import db, utcnow
from core.errors import ConflictError, ValidationError
from core.health import Notice
from core.i18n import time_left_text
from core.queues import queue, redis
from core.signals import reconciling
from core.tokens import Mark, mark_key, mark_token
from lists.models import Subscriber, SuppressionReason
from lists.suppressions import add_suppression
from mailer import eta, pipelining, queries, relays
from mailer.campaigns import compile_campaign, get_campaign, reader_context, require_legal_details, save_links
from mailer.compiler import Compiled
from mailer.domains import bounce_domain_for, signer_for
from mailer.errors import RenderError
from mailer.mime import Built, build, mailbox, quoted
from mailer.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from mailer.queues import SEND_QUEUE
from mailer.replies import Outcome, classify
from mailer.signing import DKIMSigner, Header
from mailer.throttle import Bucket, Throttle, quiet_until, receiving_domain

log = logging.getLogger(__name__)

SEND_JOB_PREFIX = "send-"  # send job ids are send-<campaign>-<first id>-<random>
STOP_CHECK_EVERY = 50  # messages between looks at the campaign's status: a pause takes effect within seconds
CONNECT_ATTEMPTS = 3  # failed connects before a connection thread gives up for this job
MAX_THROTTLE_SLEEP = 2.0  # seconds a connection waits for a rate limit before putting the message back
MAX_BACK_OFF_SECONDS = 6 * 3600
COMPILED_KEPT = 8  # campaigns a worker keeps compiled
# listmonk's allowed moves between states, as PUT /api/campaigns/{id}/status takes them. Only the
# scheduler moves scheduled -> running, at send_at (mailer/scheduling.py); unscheduling goes back to draft.
MOVES = {
    CampaignStatus.DRAFT: {CampaignStatus.RUNNING, CampaignStatus.SCHEDULED},
    CampaignStatus.SCHEDULED: {CampaignStatus.DRAFT},
    CampaignStatus.RUNNING: {CampaignStatus.PAUSED, CampaignStatus.CANCELLED},
    CampaignStatus.PAUSED: {CampaignStatus.RUNNING, CampaignStatus.SCHEDULED, CampaignStatus.CANCELLED},
}

_compiled: dict[tuple[int, datetime], Compiled] = {}  # per worker process: send jobs run in it (core/cli.py)


def change_status(campaign: Campaign, status: str) -> None:
    """Move a campaign to a new state as listmonk allows; starting or resuming queues its sending."""
    target = CampaignStatus(status) if status in set(CampaignStatus) else None
    if target is None or target not in MOVES.get(campaign.status, set()):
        raise ValidationError(_("A %(current)s campaign cannot become %(target)s.", current=campaign.status.value,
                                target=status))
    if target == CampaignStatus.RUNNING:
        start(campaign)
        return
    if target in (CampaignStatus.SCHEDULED, CampaignStatus.DRAFT):
        from mailer import scheduling  # it starts campaigns through this module, so it imports it, not we it

        if target == CampaignStatus.SCHEDULED:
            require_legal_details(campaign)  # said now, not when the time comes
            scheduling.schedule(campaign)
        else:
            scheduling.unschedule(campaign)
        return
    campaign.status = target
    db.session.commit()


def start(campaign: Campaign) -> None:
    """Fix the audience (first start only), record the links, and queue the batches."""
    if not campaign.lists:
        raise ValidationError(_("Choose at least one list to send to."))
    compiled = require_legal_details(campaign)  # a template error or a missing footer stops it here
    first_start = campaign.started_at is None
    if first_start:
        segment_rules = _segment_rules(campaign)
        campaign.to_send = queries.materialise(campaign.id, campaign.lists, segment_rules)
        campaign.started_at = utcnow()
    campaign.status = CampaignStatus.RUNNING
    campaign.notice = None  # whatever paused it was looked at
    db.session.commit()
    save_links(campaign, compiled.urls)
    for first_id, last_id in queries.batch_bounds(campaign.id, _batch_size()):
        _enqueue(campaign.id, first_id, last_id)
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
    left = eta.estimate(campaign, remaining, rate) if campaign.status == CampaignStatus.RUNNING else eta.Estimate(None)
    return {"status": campaign.status.value, "total": total, "sent": counts["sent"], "failed": counts["failed"],
            "remaining": remaining, "percent": round(100 * done / total) if total else 100, "rate": rate,
            "seconds_left": left.seconds, "time_left": time_left_text(left.seconds), "paced_by": left.paced_by}


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


def send_batch(campaign_id: int, first_id: int, last_id: int) -> int:
    """Send the due deliveries of one batch of a running campaign; return how many went out."""
    campaign = get_campaign(campaign_id)
    if campaign.status != CampaignStatus.RUNNING:
        return 0  # paused or cancelled: the rows stay queued (resuming queues them again)
    settings = current_app.config["KAIRAN"]
    quiet = quiet_until(utcnow(), campaign.quiet_start, campaign.quiet_end, settings.timezone)
    if quiet is not None:  # nothing is claimed: the batch simply runs again when the quiet hours end
        _enqueue(campaign_id, first_id, last_id, at=quiet)
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
                             Batch.of(campaign, compiled, link_ids), claimed, readers)
        sender.run()
        _after_batch(campaign_id, sender)
    upcoming = queries.next_retry(campaign_id, first_id, last_id)
    if upcoming is not None:  # 4xx back-offs and throttled domains: this batch runs again then
        _enqueue(campaign_id, first_id, last_id, at=upcoming)
    finish_if_done(campaign_id)
    return len(claimed) and sender.sent


def _batch_size() -> int:
    return int(current_app.config["KAIRAN"].sending.batch_size)


def _enqueue(campaign_id: int, first_id: int, last_id: int, at: datetime | None = None) -> None:
    """Queue one batch job (at a time, when given); its id names the campaign so the reconciler can tell."""
    job_id = f"{SEND_JOB_PREFIX}{campaign_id}-{first_id}-{uuid.uuid4().hex[:8]}"
    send = queue(SEND_QUEUE)
    if at is None:
        send.enqueue(send_batch, campaign_id, first_id, last_id, job_id=job_id)
    else:
        send.enqueue_at(at, send_batch, campaign_id, first_id, last_id, job_id=job_id)


def _after_batch(campaign_id: int, sender: BatchSender) -> None:
    """Tell the admin about sender-side rejections, and pause the campaign when too much fails."""
    campaign = get_campaign(campaign_id)
    settings = current_app.config["KAIRAN"].sending
    if sender.sender_rejections:
        campaign.notice = _("The relay refused mail because of the sender, not the recipients (check the "
                            "sending domain's DKIM, SPF and DMARC records and the relay's account): %(reply)s",
                            reply=sender.sender_rejections[-1])
    if sender.last_failure is None:  # nothing failed in this batch: the campaign's share cannot have grown
        db.session.commit()
        return
    counts = queries.progress(campaign_id)
    tried = counts["sent"] + counts["failed"]
    failed = counts["failed"]
    if (campaign.status == CampaignStatus.RUNNING and failed >= settings.pause_failures
            and failed * 100 >= settings.pause_failure_percent * tried):
        campaign.status = CampaignStatus.PAUSED
        campaign.notice = _("Paused itself: %(failed)s of %(tried)s messages failed. The last answer was: %(reply)s",
                            failed=failed, tried=tried, reply=sender.last_failure or "-")
    db.session.commit()


def reconcile() -> int:
    """Start due scheduled campaigns, and queue again what the database says is unsent for running campaigns
    no job is waiting for; return how many batches were queued.

    Run by a worker every KAIRAN_RECONCILE_SECONDS: after Redis was flushed or restarted, or a
    job was lost, the campaign still finishes without anyone acting.
    """
    from mailer import scheduling  # it imports this module

    reconciling.send()  # tracking flushes its event stream (core/signals.py)
    scheduling.start_due_campaigns()  # a flushed Redis lost their start jobs too
    waiting = _campaigns_with_jobs()
    queued = 0
    running = db.session.scalars(select(Campaign.id).where(Campaign.status == CampaignStatus.RUNNING)).all()
    for campaign_id in running:
        if campaign_id not in waiting:
            for first_id, last_id in queries.batch_bounds(campaign_id, _batch_size(), due_only=True):
                _enqueue(campaign_id, first_id, last_id)
                queued += 1
        finish_if_done(campaign_id)
    return queued


def _campaigns_with_jobs() -> set[int]:
    """Return the campaigns with a send job queued or scheduled in Redis."""
    send = queue(SEND_QUEUE)
    ids = [*send.get_job_ids(), *ScheduledJobRegistry(queue=send).get_job_ids()]
    return {int(job_id[len(SEND_JOB_PREFIX):].split("-")[0]) for job_id in ids if job_id.startswith(SEND_JOB_PREFIX)}


@dataclass(frozen=True)
class Batch:
    """What every message of a campaign shares: its compiled form, sender, signer and tracked links."""

    campaign: Campaign
    compiled: Compiled
    from_: bytes
    sender: str
    domain: str
    signer: DKIMSigner | None  # the From domain's key, when it is a sending domain
    link_ids: Sequence[int]  # the links table's id of each of compiled.urls
    base_url: str
    bounce_domain: str
    mark_key: bytes

    @classmethod
    def of(cls, campaign: Campaign, compiled: Compiled, link_ids: Sequence[int] = ()) -> Batch:
        """Work out a campaign's sender once (the configured sender when the campaign names none)."""
        settings = current_app.config["KAIRAN"]
        name, sender = parseaddr(campaign.from_email or settings.mail_from)
        domain = sender.rpartition("@")[2]
        return cls(campaign, compiled, mailbox(name, sender), sender, domain, signer_for(sender), link_ids,
                   settings.base_url, bounce_domain_for(domain), mark_key())

    def return_path(self, delivery_id: int) -> str:
        """The envelope sender of one delivery: bounces come back to an address naming it (VERP)."""
        return f"bounce+{mark_token(Mark.BOUNCE, delivery_id, key=self.mark_key)}@{self.bounce_domain}"

    def unsubscribe_address(self, delivery_id: int) -> str:
        """List-Unsubscribe's mailto: address of one delivery, on the bounce domain (tracking/inbound.py reads it)."""
        return f"unsubscribe+{mark_token(Mark.UNSUBSCRIBE, delivery_id, key=self.mark_key)}@{self.bounce_domain}"


def campaign_message(batch: Batch, reader: Subscriber | None, to: bytes, extra: Sequence[Header] = (),
                     delivery_id: int | None = None, *, test_prefix: str = "") -> tuple[Built, str]:
    """Build one reader's message with every header of the sending rules; return it and its Message-ID.

    The send and the test sends both build here, so a test looks exactly as the real mail will;
    only a delivery's message has tracked links and the open pixel (tests are never counted).
    A test (no delivery) has a subject starting with ``test_prefix``, and links, List-Unsubscribe's
    one-click among them, that change nothing: it may be rendered as a real subscriber.
    """
    campaign, domain = batch.campaign, batch.domain
    links: Sequence[str] | None = None
    pixel = ""
    if delivery_id is not None:
        key, base = batch.mark_key, batch.base_url
        links = [f"{base}/c/{mark_token(Mark.CLICK, delivery_id, link_id, key=key)}" for link_id in batch.link_ids]
        pixel = (f'<img src="{base}/o/{mark_token(Mark.OPEN, delivery_id, key=key)}.gif" width="1" height="1" '
                 'alt="" style="display:block;border:0;width:1px;height:1px">')
    context = reader_context(campaign, reader, track_view=pixel, delivery_id=delivery_id, test=delivery_id is None)
    subject, html, text = batch.compiled.render_all(context, links)
    if delivery_id is None and test_prefix:
        subject = f"{test_prefix} {subject}"
    message_id = make_msgid(domain=domain)
    # RFC 2369: the https link (RFC 8058 one-click) first, then mail for clients that only send mail.
    mailto = f", <mailto:{batch.unsubscribe_address(delivery_id)}?subject=unsubscribe>" if delivery_id else ""
    headers = [(b"List-Unsubscribe", f"<{context['unsubscribe_url']}>{mailto}".encode()),
               (b"List-Unsubscribe-Post", b"List-Unsubscribe=One-Click"),
               (b"List-Id", f"<{campaign.uuid}.{domain}>".encode()),
               (b"Feedback-ID", f"{campaign.id}:{campaign.lists[0] if campaign.lists else 0}:kairan:{domain}".encode()),
               *extra]
    built = build(from_=batch.from_, to=to, subject=subject, text=text, html=html,
                  message_id=message_id, date=datetime.now(UTC), extra=headers, charset=campaign.charset,
                  signer=batch.signer)
    return built, message_id


class BatchSender:
    """Sends one job's claimed deliveries over several SMTP connections at once (threads: the work is I/O).

    Each connection records each accepted message before it sends the next, so a worker killed at
    any moment repeats at most the messages in flight, one per connection.
    """

    def __init__(self, app: Flask, batch: Batch, claimed: Sequence[queries.Claimed],
                 readers: dict[int, Subscriber]) -> None:
        self.app, self.batch, self.readers = app, batch, readers
        self.settings = app.config["KAIRAN"].sending
        self.work: SimpleQueue[queries.Claimed] = SimpleQueue()
        for delivery in claimed:
            self.work.put(delivery)
        self.pending = {delivery.id for delivery in claimed}  # leased and not yet recorded or deferred
        self.lock = threading.Lock()
        self.stopped = threading.Event()  # paused or cancelled meanwhile
        self.relay_trouble = False
        self.sent = 0
        self.handled = 0
        self.sender_rejections: list[str] = []
        self.last_failure: str | None = None
        self.throttle = Throttle(redis())
        self.shared_buckets = [b for b in (
            Bucket.per_second_rate("global", self.settings.rate_per_second) if self.settings.rate_per_second else None,
            Bucket.per_minute(f"campaign:{batch.campaign.id}", batch.campaign.rate_per_minute)
            if batch.campaign.rate_per_minute else None) if b is not None]
        self.domain_deferrals: dict[str, int] = {}  # how many of a throttled domain this job has put back
        self.recorder = queries.Recorder()  # this job's connections commit their records together

    def run(self) -> None:
        """Send everything claimed, then put back what could not go now."""
        relays_now = relays.healthy(relays.active_relays())
        capacity = sum(relay.max_connections for relay in relays_now) or 1
        count = max(1, min(self.settings.connections, capacity, self.work.qsize()))
        threads = [threading.Thread(target=self._connection, name=f"smtp-{n}", daemon=True) for n in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        left = sorted(self.pending)
        if left and self.relay_trouble and not self.stopped.is_set():  # no relay would take them: wait a while
            queries.defer(left, utcnow() + timedelta(seconds=self.settings.retry_base_seconds))
        else:
            queries.release(left)

    def _connection(self) -> None:
        with self.app.app_context():
            try:
                self._send_until_done()
            except Exception:  # a bug or a lost database: what this thread held goes back via pending
                log.exception("a send connection stopped")
            finally:
                db.session.remove()

    def _send_until_done(self) -> None:
        current: tuple[relays.Relay, smtplib.SMTP] | None = None  # this thread's relay and connection
        connect_failures = 0
        try:
            while not self.stopped.is_set():
                try:
                    delivery = self.work.get_nowait()
                except Empty:
                    return
                if self._check_stop():
                    return
                reader = self.readers.get(delivery.subscriber_id or 0)
                if reader is None:  # wiped since the audience was fixed
                    self._done(delivery, DeliveryStatus.SUPPRESSED)
                    continue
                if current is None:
                    relay = relays.pick(relays.active_relays())
                    if relay is None:
                        self.relay_trouble = True
                        return
                    try:
                        current = relay, relay.connect()
                    except (OSError, smtplib.SMTPException) as error:
                        relays.report_failure(relay)
                        self.work.put(delivery)  # not this message's fault: another connection may take it
                        connect_failures += 1
                        self.last_failure = f"{relay.describe()}: {error}"
                        if connect_failures >= CONNECT_ATTEMPTS:
                            self.relay_trouble = True
                            return
                        continue
                relay, connection = current
                if self._wait_for_token(delivery, reader, relay) and not self._send_one(
                        connection, relay, delivery, reader):
                    connection.close()
                    current = None
        finally:
            if current is not None:
                with contextlib.suppress(OSError, smtplib.SMTPException):
                    current[1].quit()

    def _check_stop(self) -> bool:
        with self.lock:
            self.handled += 1
            check = self.handled % STOP_CHECK_EVERY == 0
        if check and _stopped(self.batch.campaign.id):
            self.stopped.set()
        return self.stopped.is_set()

    def _wait_for_token(self, delivery: queries.Claimed, reader: Subscriber, relay: relays.Relay) -> bool:
        """Wait for the rate limits; False when the delivery was put back for later instead."""
        domain = receiving_domain(reader.email)
        per_domain = self.settings.domain_limits.get(domain)
        domain_bucket = Bucket.per_minute(f"domain:{domain}", per_domain) if per_domain else None
        buckets = [*self.shared_buckets, *(b for b in (domain_bucket,) if b is not None)]
        if relay.rate_per_second:
            buckets.append(Bucket.per_second_rate(f"relay:{relay.key}", relay.rate_per_second))
        while (wait := self.throttle.take(buckets)) is not None:
            if wait.bucket is domain_bucket or wait.seconds > MAX_THROTTLE_SLEEP:
                # Others need not wait for this domain: put it back, spaced out behind the ones before it.
                with self.lock:
                    behind = self.domain_deferrals.get(domain, 0)
                    self.domain_deferrals[domain] = behind + 1
                spacing = behind / wait.bucket.per_second
                self._defer(delivery, utcnow() + timedelta(seconds=wait.seconds + spacing))
                return False
            time.sleep(wait.seconds)
        return True

    def _send_one(self, connection: smtplib.SMTP, relay: relays.Relay, delivery: queries.Claimed,
                  reader: Subscriber) -> bool:
        """Send one message and record how it went; False when the connection is no longer usable."""
        try:
            built, message_id = campaign_message(self.batch, reader, mailbox(reader.name, reader.email),
                                                 delivery_id=delivery.id)
        except RenderError as error:  # the template fails for this reader: this delivery fails, not the batch
            self.last_failure = error.message
            self._done(delivery, DeliveryStatus.FAILED, reply=error.message)
            return True
        try:
            pipelining.send(connection, self.batch.return_path(delivery.id), quoted(reader.email), built.as_bytes())
        except smtplib.SMTPRecipientsRefused as refused:
            code, reply = next(iter(refused.recipients.values()))
            self._answered(delivery, reader, code, reply.decode(errors="replace"))
            return True
        except smtplib.SMTPResponseException as error:  # MAIL FROM or DATA refused, or 421 closing
            text = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) \
                else str(error.smtp_error)
            sender_refused = isinstance(error, smtplib.SMTPSenderRefused) and error.smtp_code >= 500
            self._answered(delivery, reader, error.smtp_code, text, about_sender=sender_refused)
            if error.smtp_code == 421:
                relays.report_failure(relay)
                return False
            return True
        except (OSError, smtplib.SMTPServerDisconnected) as error:  # dropped connection or timeout
            relays.report_failure(relay)
            self._retry(delivery, f"{relay.describe()}: {error or type(error).__name__}")
            return False
        relays.report_success(relay)
        self._done(delivery, DeliveryStatus.SENT, message_id=message_id)
        with self.lock:
            self.sent += 1
        return True

    def _answered(self, delivery: queries.Claimed, reader: Subscriber, code: int, text: str,
                  about_sender: bool = False) -> None:
        """Act on a refusal of one message, as docs/architecture.md's bounce rules say."""
        reply = f"{code} {text}".strip()
        outcome = Outcome.SENDER_REJECTED if about_sender else classify(code, text)
        if outcome == Outcome.RETRY:
            self._retry(delivery, reply)
            return
        self.last_failure = reply
        self._done(delivery, DeliveryStatus.FAILED, reply=reply)
        if outcome == Outcome.HARD_BOUNCE:
            with contextlib.suppress(ConflictError):
                add_suppression(reader.email, SuppressionReason.HARD_BOUNCE, f"campaign {self.batch.campaign.id}")
        elif outcome == Outcome.SENDER_REJECTED:
            with self.lock:
                self.sender_rejections.append(reply)

    def _retry(self, delivery: queries.Claimed, reply: str) -> None:
        """Try a delivery again after a back-off, or fail it once its attempts or time are used up."""
        self.last_failure = reply
        attempts = delivery.attempts + 1
        now = utcnow()
        first = delivery.first_failed_at or now
        if attempts >= self.settings.retry_attempts or now - first >= timedelta(hours=self.settings.retry_hours):
            self._done(delivery, DeliveryStatus.FAILED, reply=reply)
            return
        back_off = min(self.settings.retry_base_seconds * 2 ** (attempts - 1), MAX_BACK_OFF_SECONDS)
        jitter = random.uniform(0.5, 1.5)  # noqa: S311  (spreads retries out; nothing secret)
        queries.retry_later(delivery, now + timedelta(seconds=back_off * jitter), reply)
        self._forget(delivery)

    def _defer(self, delivery: queries.Claimed, until: datetime) -> None:
        queries.defer([delivery.id], until)
        self._forget(delivery)

    def _done(self, delivery: queries.Claimed, status: DeliveryStatus, *, message_id: str | None = None,
              reply: str | None = None) -> None:
        self.recorder.record(delivery.id, status, message_id=message_id, reply=reply)
        self._forget(delivery)

    def _forget(self, delivery: queries.Claimed) -> None:
        with self.lock:
            self.pending.discard(delivery.id)


def campaign_notices() -> list[Notice]:
    """The dashboard's notices: campaigns that paused themselves or met a rejection about the sender."""
    rows = db.session.execute(select(Campaign.id, Campaign.name, Campaign.notice).where(
        Campaign.notice.is_not(None), Campaign.status.in_([CampaignStatus.RUNNING, CampaignStatus.PAUSED]))
        .order_by(Campaign.updated_at.desc()).limit(5))
    return [Notice(f"{name}: {notice}", url_for("compose.campaign_preview", campaign_id=campaign_id))
            for campaign_id, name, notice in rows]


def _stopped(campaign_id: int) -> bool:
    status = db.session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
    return status != CampaignStatus.RUNNING
