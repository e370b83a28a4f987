"""Delivering the outbox: signed requests from RQ workers, in order per subscriber, retried for three days.

One job delivers one endpoint's messages (``deliver``), holding the endpoint's lock so that no two jobs send for it
at once. Its messages go out in id order on LANES threads, each with a kept-alive connection; a subscriber's
messages always share a lane, so they arrive in the order they happened. A lane stops at its first failure or at
its first message not due yet: nothing of that lane passes a message waiting for its retry.

A failed request is retried after 5 s, 20 s, 80 s … (×4 each time, at most 8 h apart) until the message is three
days old, then given up on. An endpoint that answered nothing well for three days is switched off, its waiting
messages given up on, and the dashboard says so; the delivery log keeps them for a replay.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from redis.exceptions import RedisError
from sqlalchemy import delete, insert, select, update

from core.batches import IN_BATCH, batched
from core.clock import now
from core.db import db
from core.queues import queue, redis
from webhooks.catalogue import HIGH_VOLUME
from webhooks.endpoints import SECRET_PREFIX
from webhooks.models import Attempt, Endpoint, MessageState, OutboxMessage
from webhooks.outbox import LANES, body
from webhooks.queues import WEBHOOKS_QUEUE

log = logging.getLogger(__name__)

RETRY_FOR = timedelta(days=3)  # a message is tried this long; an endpoint failing this long is switched off
FIRST_WAIT = timedelta(seconds=5)
LONGEST_WAIT = timedelta(hours=8)
FETCH = 2000  # messages read per round
PER_LANE = 250  # requests a lane makes per round, so results are saved (and the log shows them) as they go
BATCH_MAX = 100  # high-volume events in one request, for an endpoint that takes them batched
TIMEOUT_SECONDS = 10
RESPONSE_KEPT = 2000  # characters of an answer kept in the log
LOCK_SECONDS = 120
JOB_SECONDS = 30  # a job hands over to a new one after this, so a worker stopping waits no longer for it
KEEP = timedelta(days=7)  # delivered messages and the log are kept this long
USER_AGENT = "Kairan-Webhooks/1"


def wait_after(attempts: int) -> timedelta:
    """How long a message waits after its ``attempts``-th failure."""
    return min(FIRST_WAIT * 4 ** min(attempts - 1, 20), LONGEST_WAIT)  # 4^20 × 5 s is past 8 h by far


def signature(secret: str, msg_id: str, timestamp: int, payload: str) -> str:
    """The webhook-signature header's value: v1 and the base64 of HMAC-SHA256 over "id.timestamp.body"."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.{payload}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signed_headers(secret: str, msg_id: str, payload: str) -> dict[str, str]:
    """A request's headers. The timestamp is the wall clock's, never the movable one: a receiver refuses a
    timestamp far from its own clock (replays)."""
    timestamp = int(time.time())
    return {"content-type": "application/json", "user-agent": USER_AGENT, "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp), "webhook-signature": signature(secret, msg_id, timestamp, payload)}


@dataclass
class Waiting:
    """A message read from the outbox."""

    id: int
    msg_id: str
    event_type: str
    payload: str
    lane: int
    attempts: int
    next_attempt_at: datetime
    created_at: datetime


@dataclass
class Request:
    """One request: a message, or a batch of high-volume ones; and how it went."""

    messages: list[Waiting]
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    status: int | None = None
    response: str = ""
    error: str = ""
    at: datetime | None = None
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def event_type(self) -> str:
        return self.messages[0].event_type if len(self.messages) == 1 else "batch"


def requests_of(lane: Sequence[Waiting], batched: bool) -> list[Request]:
    """A lane's messages as requests: consecutive high-volume ones together when the endpoint takes batches."""
    requests: list[Request] = []
    for message in lane:
        last = requests[-1].messages if requests else None
        if (batched and last and message.event_type in HIGH_VOLUME and last[-1].event_type in HIGH_VOLUME
                and len(last) < BATCH_MAX):
            last.append(message)
        else:
            requests.append(Request([message]))
    return requests


class Connection:
    """One lane's kept-alive connection to the endpoint."""

    def __init__(self, url: str) -> None:
        self.url = url
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname or "", parts.port
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.connection: http.client.HTTPConnection | None = None

    def _open(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        return kind(self.host, self.port, timeout=TIMEOUT_SECONDS)

    def post(self, request: Request) -> None:
        """Send the request and note the answer (or why none came)."""
        request.at = now()
        started = time.perf_counter()
        for fresh in (False, True):  # a kept-alive connection the server closed meanwhile: once more, anew
            reused = self.connection is not None and not fresh
            if self.connection is None or fresh:
                self.close()
                self.connection = self._open()
            try:
                self.connection.request("POST", self.path, request.body.encode(), request.headers)
                answer = self.connection.getresponse()
                request.status = answer.status
                request.response = answer.read(RESPONSE_KEPT * 4).decode("utf-8", "replace")[:RESPONSE_KEPT]
                request.error = ""
                if answer.will_close:
                    self.close()
                break
            except (OSError, http.client.HTTPException) as error:
                self.close()
                request.error = f"{type(error).__name__}: {error}"[:500]
                if not reused:
                    break
        request.duration_ms = round((time.perf_counter() - started) * 1000, 1)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _send_lane(connection: Connection, requests: list[Request]) -> list[Request]:
    """Send a lane's requests in order, stopping at the first that fails; return those sent."""
    done = []
    for request in requests:
        connection.post(request)
        done.append(request)
        if not request.ok:
            break
    return done


def _read(endpoint_id: int) -> list[Waiting]:
    columns = (OutboxMessage.id, OutboxMessage.msg_id, OutboxMessage.event_type, OutboxMessage.payload,
               OutboxMessage.lane, OutboxMessage.attempts, OutboxMessage.next_attempt_at, OutboxMessage.created_at)
    return [Waiting(*row) for row in db.session.execute(
        select(*columns).where(OutboxMessage.endpoint_id == endpoint_id, OutboxMessage.state == MessageState.PENDING)
        .order_by(OutboxMessage.id).limit(FETCH))]


def _due_lanes(waiting: Sequence[Waiting], moment: datetime) -> dict[int, list[Waiting]]:
    """Each lane's messages from its oldest up to the first one not due yet."""
    lanes: dict[int, list[Waiting]] = {}
    stopped: set[int] = set()
    for message in waiting:
        if message.lane in stopped:
            continue
        if message.next_attempt_at > moment:
            stopped.add(message.lane)
            continue
        lanes.setdefault(message.lane, []).append(message)
    return lanes


def deliver(endpoint_id: int) -> int:
    """Job: deliver an endpoint's due messages until none is left or every lane waits; return how many arrived."""
    client = redis()
    client.delete(_kicked_key(endpoint_id))  # messages written from now on ask for another job
    lock = client.lock(f"kairan:webhooks:deliver:{endpoint_id}", timeout=LOCK_SECONDS)
    if not lock.acquire(blocking=False):
        return 0  # another worker is at it; it reads until nothing is due
    delivered, until = 0, time.monotonic() + JOB_SECONDS
    connections: dict[int, Connection] = {}
    try:
        with ThreadPoolExecutor(LANES, thread_name_prefix="webhook-lane") as lanes_pool:
            while time.monotonic() < until:
                endpoint = db.session.get(Endpoint, endpoint_id)  # read again each round: switched off, deleted?
                if endpoint is None or not endpoint.enabled:
                    break
                lanes = _due_lanes(_read(endpoint_id), now())
                if not lanes:
                    break
                work = {}
                for lane, messages in lanes.items():
                    requests = requests_of(messages, endpoint.batch_high_volume)[:PER_LANE]
                    for request in requests:
                        request.body = (request.messages[0].payload if len(request.messages) == 1 else
                                        body("batch", _batch_data(request.messages), now().isoformat()))
                        msg_id = request.messages[0].msg_id + (f"_{len(request.messages)}"
                                                               if len(request.messages) > 1 else "")
                        request.headers = signed_headers(endpoint.secret, msg_id, request.body)
                    connection = connections.setdefault(lane, Connection(endpoint.url))
                    work[lane] = lanes_pool.submit(_send_lane, connection, requests)
                sent = [request for future in work.values() for request in future.result()]
                delivered += _save(endpoint, sent)
                lock.extend(LOCK_SECONDS, replace_ttl=True)
                if not any(request.ok for request in sent):
                    break
    finally:
        for connection in connections.values():
            connection.close()
        db.session.remove()
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - a lock that lapsed is released already
            log.warning("webhook delivery for endpoint %s outlived its lock", endpoint_id)
    if _due(endpoint_id):  # written while the lock was held (their kick found it taken), or the job's time is up
        kick([endpoint_id])
    return delivered


def _batch_data(messages: Sequence[Waiting]) -> list[Any]:
    """A batch's data: the events it carries, each as it would have been sent alone."""
    import orjson

    return [orjson.loads(message.payload) for message in messages]


def _save(endpoint: Endpoint, sent: Sequence[Request]) -> int:
    """Record a round: delivered messages, failed ones' next attempt or end, the log, the endpoint's health."""
    moment = now()
    arrived = [message.id for request in sent if request.ok for message in request.messages]
    for batch in batched(arrived, IN_BATCH):
        db.session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(batch))
                           .values(state=MessageState.DELIVERED, delivered_at=moment))
    failed = [message for request in sent if not request.ok for message in request.messages]
    for message in failed:
        attempts = message.attempts + 1
        ended = moment - message.created_at >= RETRY_FOR
        db.session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id).values(
            attempts=attempts, state=MessageState.FAILED if ended else MessageState.PENDING,
            next_attempt_at=moment + wait_after(attempts)))
    if sent:
        db.session.execute(insert(Attempt), [
            {"endpoint_id": endpoint.id, "event_type": request.event_type,
             "message_ids": [message.id for message in request.messages], "at": request.at or moment,
             "request_headers": request.headers, "request_body": request.body, "status": request.status,
             "response_body": request.response, "error": request.error, "duration_ms": request.duration_ms}
            for request in sent])
    if arrived:
        endpoint.failing_since = None
    elif failed:
        endpoint.failing_since = endpoint.failing_since or moment
        if moment - endpoint.failing_since >= RETRY_FOR:
            _switch_off(endpoint, moment)
    db.session.commit()
    return len(arrived)


def _switch_off(endpoint: Endpoint, moment: datetime) -> None:
    """Stop an endpoint that kept failing: its waiting messages are given up on (the log can replay them)."""
    endpoint.enabled, endpoint.disabled_at = False, moment
    db.session.execute(update(OutboxMessage).where(OutboxMessage.endpoint_id == endpoint.id,
                                                   OutboxMessage.state == MessageState.PENDING)
                       .values(state=MessageState.FAILED))
    log.warning("webhook endpoint %s switched off: it failed for %s", endpoint.id, RETRY_FOR)


def _due(endpoint_id: int | None = None) -> list[int]:
    """Endpoints (enabled) with a message due now."""
    query = (select(OutboxMessage.endpoint_id).distinct().join(Endpoint, Endpoint.id == OutboxMessage.endpoint_id)
             .where(Endpoint.enabled, OutboxMessage.state == MessageState.PENDING,
                    OutboxMessage.next_attempt_at <= now()))
    if endpoint_id is not None:
        query = query.where(OutboxMessage.endpoint_id == endpoint_id)
    return list(db.session.scalars(query))


def _kicked_key(endpoint_id: int) -> str:
    return f"kairan:webhooks:kicked:{endpoint_id}"


def kick(endpoint_ids: Sequence[int]) -> None:
    """Queue a delivery job for each endpoint that has none waiting; a Redis that is down loses nothing (the
    messages are in the outbox, and the dispatch finds them)."""
    try:
        client = redis()
        for endpoint_id in endpoint_ids:
            if client.set(_kicked_key(endpoint_id), 1, nx=True, ex=LOCK_SECONDS):
                queue(WEBHOOKS_QUEUE).enqueue(deliver, endpoint_id, job_timeout=LOCK_SECONDS * 30,
                                              result_ttl=0, failure_ttl=86400)
    except RedisError as error:
        log.warning("could not queue webhook deliveries (the dispatch will): %s", error)


def dispatch() -> None:
    """Periodic job: ask for delivery of every endpoint with messages due (retries, kicks Redis missed)."""
    kick(_due())


def forget() -> None:
    """Periodic job: delete delivered and given-up messages and the log older than KEEP."""
    before = now() - KEEP
    db.session.execute(delete(OutboxMessage).where(OutboxMessage.state != MessageState.PENDING,
                                                   OutboxMessage.created_at < before))
    db.session.execute(delete(Attempt).where(Attempt.at < before))
    db.session.commit()
