"""The connections of one batch job: its claimed deliveries sent over several connections at once.

Each delivery goes down the pipeline every message takes (mailer/pipeline.py) over its thread's
open transport (mailer/transport.py: the SMTP relays, or whatever the installation uses). Each
connection records each message before it sends the next: a worker killed at any moment leaves
its unrecorded rows leased, and they are sent again when the lease ends. A 4xx answer puts the
delivery back with a back-off; a 5xx fails it (mailer/replies.py). Every connection keeps to the
rate limits all workers share (mailer/throttle.py). A connection thread that dies (a bug, a lost
database) fails the job, so RQ's failed registry shows it; what it held goes back in the queue.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from queue import Empty, SimpleQueue

from flask import Flask
from sqlalchemy import select

from core.db import db, utcnow
from core.errors import ConflictError
from core.queues import redis
from core.signals import run_message_failed
from lists.models import Subscriber, SuppressionReason
from lists.suppressions import add_suppression
from mailer import pipeline, queries, transport
from mailer.errors import RenderError
from mailer.message import SendContext, campaign_message
from mailer.mime import mailbox
from mailer.models import Campaign, CampaignStatus, DeliveryStatus
from mailer.pipeline import Composed
from mailer.replies import Outcome, classify
from mailer.throttle import Bucket, Throttle, receiving_domain
from mailer.transport import ConnectError, ConnectionLostError, NoRouteError, Reply, Route, Transport

log = logging.getLogger(__name__)

STOP_CHECK_EVERY = 50  # messages between looks at the campaign's status: a pause takes effect within seconds
CONNECT_ATTEMPTS = 3  # failed connects before a connection thread gives up for this job
MAX_THROTTLE_SLEEP = 2.0  # seconds a connection waits for a rate limit before putting the message back
MAX_BACK_OFF_SECONDS = 6 * 3600


class SendConnectionError(RuntimeError):
    """A connection thread of the job died; raised once the others are done and its rows are back in the queue."""


class BatchSender:
    """Sends one job's claimed deliveries over several connections at once (threads: the work is I/O).

    Each connection records each accepted message before it sends the next, so a worker killed at
    any moment repeats at most the messages in flight, one per connection.
    """

    def __init__(self, app: Flask, contexts: dict[int, SendContext], claimed: Sequence[queries.Claimed],
                 readers: dict[int, Subscriber]) -> None:
        """``contexts``: each A/B variant's message (0: the campaign's, when it has no test)."""
        self.app, self.contexts, self.readers = app, contexts, readers
        self.context = next(iter(contexts.values()))  # the campaign's own figures (id, pace) are every variant's
        self.settings = app.config["KAIRAN"].sending
        self.outlet = transport.outlet()
        self.work: SimpleQueue[queries.Claimed] = SimpleQueue()
        for delivery in claimed:
            self.work.put(delivery)
        self.pending = {delivery.id for delivery in claimed}  # leased and not yet recorded or deferred
        self.lock = threading.Lock()
        self.stopped = threading.Event()  # paused or cancelled meanwhile
        self.relay_trouble = False  # no way out would take the messages now
        self.crashes: list[Exception] = []  # connection threads that died
        self.sent = 0
        self.outcomes: Counter[str] = Counter()  # sent, failed, suppressed, retry, deferred, put back: the job's log
        self.handled = 0
        self.sender_rejections: list[str] = []
        self.last_failure: str | None = None
        self.throttle = Throttle(redis())
        self.shared_buckets = [b for b in (
            Bucket.per_second_rate("global", self.settings.rate_per_second) if self.settings.rate_per_second else None,
            Bucket.per_minute(f"campaign:{self.context.campaign.id}", self.context.campaign.rate_per_minute)
            if self.context.campaign.rate_per_minute else None) if b is not None]
        self.domain_deferrals: dict[str, int] = {}  # how many of a throttled domain this job has put back
        self.recorder = queries.Recorder()  # this job's connections commit their records together

    def run(self) -> None:
        """Send everything claimed, then put back what could not go now; raise if a connection thread died."""
        count = max(1, min(self.settings.connections, self.outlet.capacity(), self.work.qsize()))
        threads = [threading.Thread(target=self._connection, name=f"smtp-{n}", daemon=True) for n in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        left = sorted(self.pending)
        if left and self.relay_trouble and not self.stopped.is_set():  # no relay would take them: wait a while
            queries.defer(left, utcnow() + timedelta(seconds=self.settings.retry_base_seconds))
            self.outcomes["deferred"] += len(left)
        elif left:
            queries.release(left)
            self.outcomes["put back"] += len(left)
        if self.crashes:
            first = self.crashes[0]  # its traceback follows, as this error's cause
            raise SendConnectionError(f"{len(self.crashes)} of {count} send connections stopped "
                                      f"({type(first).__name__})") from first

    def _connection(self) -> None:
        with self.app.app_context():
            try:
                self._send_until_done()
            except Exception as error:  # a bug or a lost database: what this thread held goes back via pending
                log.exception("a send connection stopped")
                with self.lock:
                    self.crashes.append(error)
            finally:
                db.session.remove()

    def _send_until_done(self) -> None:
        current: tuple[Transport, Route] | None = None  # this thread's open connection, and where it leads
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
                if reader is None:  # wiped, unsubscribed or suppressed since the audience was fixed
                    self._done(delivery, DeliveryStatus.SUPPRESSED)
                    continue
                if current is None:
                    connection = self.outlet.transport()
                    try:
                        current = connection, connection.open()
                    except NoRouteError:
                        self.relay_trouble = True
                        return
                    except ConnectError as error:
                        self.work.put(delivery)  # not this message's fault: another connection may take it
                        connect_failures += 1
                        self.last_failure = str(error)
                        if connect_failures >= CONNECT_ATTEMPTS:
                            self.relay_trouble = True
                            return
                        continue
                connection, route = current
                if self._wait_for_token(delivery, reader, route) and not self._send_one(connection, delivery, reader):
                    connection.close()
                    current = None
        finally:
            if current is not None:
                current[0].close()

    def _check_stop(self) -> bool:
        with self.lock:
            self.handled += 1
            check = self.handled % STOP_CHECK_EVERY == 0
        if check and _stopped(self.context.campaign.id):
            self.stopped.set()
        return self.stopped.is_set()

    def _wait_for_token(self, delivery: queries.Claimed, reader: Subscriber, route: Route) -> bool:
        """Wait for the rate limits; False when the delivery was put back for later instead."""
        domain = receiving_domain(reader.email)
        per_domain = self.settings.domain_limits.get(domain)
        domain_bucket = Bucket.per_minute(f"domain:{domain}", per_domain) if per_domain else None
        buckets = [*self.shared_buckets, *(b for b in (domain_bucket,) if b is not None)]
        if route.rate_per_second:
            buckets.append(Bucket.per_second_rate(f"relay:{route.key}", route.rate_per_second))
        while (wait := self.throttle.take(buckets)) is not None:
            if wait.bucket is domain_bucket or wait.seconds > MAX_THROTTLE_SLEEP:
                # Others need not wait for this domain: put it back, spaced out behind the ones before it.
                with self.lock:
                    behind = self.domain_deferrals.get(domain, 0)
                    self.domain_deferrals[domain] = behind + 1
                spacing = behind / wait.bucket.per_second
                self._defer(delivery, wait.until + timedelta(seconds=spacing))
                return False
            time.sleep(wait.seconds)
        return True

    def _send_one(self, connection: Transport, delivery: queries.Claimed, reader: Subscriber) -> bool:
        """Send one message down the pipeline and record how it went; False when the connection is no longer usable."""
        try:
            reply = pipeline.send(CampaignDelivery(self, delivery, reader), connection)
        except RenderError as error:  # the template fails for this reader: this delivery fails, not the batch
            self.last_failure = error.message
            self._done(delivery, DeliveryStatus.FAILED, reply=error.message)
            if delivery.run_id:  # and an automation's run that sent it fails, with the reason
                run_message_failed.send(run_id=delivery.run_id, reason=error.message)
            return True
        except ConnectionLostError as lost:  # no answer: the message may have arrived, or not
            self._retry(delivery, str(lost))
            return False
        return reply is None or not reply.closing

    def record(self, delivery: queries.Claimed, reader: Subscriber, composed: Composed, reply: Reply) -> None:
        """Record an accepted message, or act on a refusal as docs/architecture.md's bounce rules say."""
        if reply.accepted:
            self._done(delivery, DeliveryStatus.SENT, message_id=composed.message_id)
            with self.lock:
                self.sent += 1
            return
        text = str(reply)
        outcome = Outcome.SENDER_REJECTED if reply.about_sender else classify(reply.code, reply.text)
        if outcome == Outcome.RETRY:
            self._retry(delivery, text)
            return
        self.last_failure = text
        self._done(delivery, DeliveryStatus.FAILED, reply=text)
        if outcome == Outcome.HARD_BOUNCE:
            with contextlib.suppress(ConflictError):
                add_suppression(reader.email, SuppressionReason.HARD_BOUNCE, f"campaign {self.context.campaign.id}")
        elif outcome == Outcome.SENDER_REJECTED:
            with self.lock:
                self.sender_rejections.append(text)

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
        self._forget(delivery, "retry")

    def _defer(self, delivery: queries.Claimed, until: datetime) -> None:
        queries.defer([delivery.id], until)
        self._forget(delivery, "deferred")

    def _done(self, delivery: queries.Claimed, status: DeliveryStatus, *, message_id: str | None = None,
              reply: str | None = None) -> None:
        self.recorder.record(delivery.id, status, message_id=message_id, reply=reply)
        self._forget(delivery, status.value)

    def _forget(self, delivery: queries.Claimed, outcome: str) -> None:
        with self.lock:
            self.pending.discard(delivery.id)
            self.outcomes[outcome] += 1


@dataclass(frozen=True)
class CampaignDelivery:
    """One delivery of the batch as the pipeline takes it: the campaign's message for its reader."""

    sender: BatchSender
    delivery: queries.Claimed
    reader: Subscriber

    def compose(self) -> Composed:
        """Render for the reader with tracked links, build and sign; the return path names the delivery (VERP)."""
        context, reader, delivery_id = self.sender.contexts[self.delivery.variant], self.reader, self.delivery.id
        built, message_id = campaign_message(context, reader, mailbox(reader.name, reader.email),
                                             delivery_id=delivery_id, data=self.delivery.template_data)
        return Composed(context.return_path(delivery_id), reader.email, built, message_id)

    def record(self, composed: Composed, reply: Reply) -> None:
        """Record the answer on the delivery's row."""
        self.sender.record(self.delivery, self.reader, composed, reply)


def _stopped(campaign_id: int) -> bool:
    status = db.session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
    return status != CampaignStatus.RUNNING
