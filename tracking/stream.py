"""The fast path of opens and clicks: one XADD to a Redis stream per request, nothing else.

The stream keeps what the flusher (tracking/flush.py) needs to classify and store the event:
its kind, the delivery and link the signed token named, UA, IP and the request's machine
signs. The event's time is its entry id (Redis's clock, in milliseconds). Entries stay until
the flusher has committed them to the database, so a killed web process or flusher loses
none; with embedded Redis the AOF keeps them through a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from werkzeug.datastructures import Headers

from core.queues import QueueName
from tracking.models import EventKind

log = logging.getLogger(__name__)

STREAM = "kairan:tracking:events"
FLUSH_SOON = "kairan:tracking:flush-soon"  # set for a second by the request that queued a flush
FLUSH_JOB = "tracking.flush.flush_events"
PREFETCH_HEADERS = ("Purpose", "Sec-Purpose", "X-Purpose", "X-Moz")
LOG_EVERY_SECONDS = 60.0  # a Redis outage is logged once a minute, not once a request


@dataclass(frozen=True)
class Hit:
    """One request to the pixel or the redirect, as the handler saw it."""

    kind: EventKind
    delivery_id: int
    link_id: int | None
    user_agent: str
    ip: str | None
    head: bool
    prefetch: bool

    def fields(self) -> dict[str, str | int]:
        """The stream entry's fields (short names: the stream is read back in bulk)."""
        entry: dict[str, str | int] = {"k": self.kind.value, "d": self.delivery_id, "ua": self.user_agent,
                                       "ip": self.ip or "", "h": int(self.head), "p": int(self.prefetch)}
        if self.link_id is not None:
            entry["l"] = self.link_id
        return entry


def is_prefetch(headers: Headers) -> bool:
    """Tell whether a request says it fetches ahead of anyone looking (Purpose/Sec-Purpose: prefetch …)."""
    return any("prefetch" in (headers.get(name) or "").lower() for name in PREFETCH_HEADERS)


class _Outage:
    """Counts events lost while Redis does not answer, and logs them at most once a minute."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lost = 0
        self.logged_at = 0.0

    def lose(self, error: RedisError) -> None:
        with self.lock:
            self.lost += 1
            now = time.monotonic()
            if now - self.logged_at < LOG_EVERY_SECONDS:
                return
            lost, self.lost, self.logged_at = self.lost, 0, now
        log.error("Redis did not take %d open or click event(s); the pixel and redirect still answered: %s",
                  lost, error)


class EventWriter:
    """Appends events to the stream for one app and process, and asks for a flush at most once a second."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self.asked_at = 0.0
        self.outage = _Outage()

    def append(self, hit: Hit) -> None:
        """Add one event to the stream; never raise (the reader is waiting for the pixel or the page)."""
        try:
            self.client.xadd(STREAM, hit.fields())  # type: ignore[arg-type]
            now = time.monotonic()
            if now - self.asked_at >= 1.0:  # this process asks Redis at most once a second, …
                self.asked_at = now
                if self.client.set(FLUSH_SOON, 1, nx=True, ex=1):  # … and one request a second, of all, queues it
                    Queue(QueueName.DEFAULT.value, connection=self.client).enqueue(FLUSH_JOB)
        except RedisError as error:
            self.outage.lose(error)


def writer_for(app: Flask) -> EventWriter:
    """Return the app's event writer (made on first use, on the app's Redis client)."""
    writer: EventWriter | None = app.extensions.get("kairan_tracking_writer")
    if writer is None:
        writer = app.extensions["kairan_tracking_writer"] = EventWriter(app.extensions["kairan_redis"])
    return writer
