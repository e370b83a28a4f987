"""The fast path of opens and clicks: each request's event appended to a Redis stream, nothing else.

The stream keeps what the flusher (tracking/flush.py) needs to classify and store the event:
its kind, the delivery and link the signed token named, UA, IP and the request's machine
signs. The event's time is its entry id (Redis's clock, in milliseconds). Entries stay until
the flusher has committed them to the database, so a killed web process or flusher loses
none; with embedded Redis the AOF keeps them through a restart.

A request answers only once Redis has taken its event, but requests do not each pay a round
trip: those of a process that arrive while one is in flight go together in the next
(group commit, see EventWriter). Under wrk, a round trip of its own per request (the wait, the
wake-ups, redis-py's layers) cost a gunicorn worker ~120 µs of CPU, three times the rest of the
handler; see bench/track.py's cpu_us_per_request.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import hiredis
from flask import Flask
from redis import Redis
from redis.connection import ConnectionInterface
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from rq import Queue

from core.queues import DEFAULT_QUEUE
from tracking.models import EventKind

log = logging.getLogger(__name__)

STREAM = "kairan:tracking:events"
FLUSH_SOON = "kairan:tracking:flush-soon"  # set for a second by the request that queued a flush
PREFETCH_HEADERS = ("HTTP_PURPOSE", "HTTP_SEC_PURPOSE", "HTTP_X_PURPOSE", "HTTP_X_MOZ")  # as WSGI names them
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

    def command(self) -> bytes:
        """The XADD that appends it, packed (the entry's fields have short names: the stream is read back in bulk)."""
        fields = ["k", self.kind.value, "d", self.delivery_id, "ua", self.user_agent, "ip", self.ip or "",
                  "h", int(self.head), "p", int(self.prefetch)]
        if self.link_id is not None:
            fields += ["l", self.link_id]
        return hiredis.pack_command(("XADD", STREAM, "*", *fields))  # type: ignore[arg-type]  # (its stub: 1-tuples)


def is_prefetch(environ: Mapping[str, Any]) -> bool:
    """Tell whether a request says it fetches ahead of anyone looking (Purpose/Sec-Purpose: prefetch …)."""
    return any("prefetch" in (environ.get(name) or "").lower() for name in PREFETCH_HEADERS)


class _Outage:
    """Counts events lost while Redis does not answer, and logs them at most once a minute."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lost = 0
        self.logged_at = 0.0

    def lose(self, error: RedisError, count: int = 1) -> None:
        with self.lock:
            self.lost += count
            now = time.monotonic()
            if now - self.logged_at < LOG_EVERY_SECONDS:
                return
            lost, self.lost, self.logged_at = self.lost, 0, now
        log.error("Redis did not take %d open or click event(s); the pixel and redirect still answered: %s",
                  lost, error)


class _Waiting:
    """One request's event, packed, and the lock its request waits on."""

    __slots__ = ("batch", "command", "done")

    def __init__(self, command: bytes) -> None:
        self.command = command
        self.done = threading.Lock()
        self.done.acquire()  # released once Redis answered for the event, or when its request is to send a batch
        self.batch: list[_Waiting] | None = None  # set when its request is to send these (itself first)


class EventWriter:
    """Appends events to the stream for one app and process, and asks for a flush at most once a second.

    Group commit: while one request's round trip to Redis is in flight, the events of the requests
    that arrive queue up; when it ends, the first of them sends them all in one round trip (the
    XADDs pipelined on one connection), and so on. Each request still answers only after Redis
    took its event, so a web process killed after answering loses nothing, and each waits once,
    as it would for its own round trip. No thread of its own: the request that sends is one of
    those waiting anyway.
    """

    def __init__(self, client: Redis, flush_job: Callable[[], int]) -> None:
        self.client = client
        self.flush_job = flush_job  # tracking.flush.flush_events, handed in (flush imports this module)
        self.asked_at = 0.0
        self.outage = _Outage()
        self.lock = threading.Lock()
        self.queue: list[_Waiting] = []  # events for the next round trip
        self.sending = False  # a round trip is in flight (or about to be)
        self.connection: ConnectionInterface | None = None
        self.pid = 0

    def append(self, hit: Hit) -> None:
        """Add one event to the stream and return once Redis took it; never raise (the reader is waiting)."""
        me = _Waiting(hit.command())
        with self.lock:
            if self.sending:
                self.queue.append(me)
            else:
                self.sending, me.batch = True, [me]
        if me.batch is None:
            me.done.acquire()  # until its batch was sent, or this request is to send the next one
        if me.batch is not None and self._send_then_hand_over(me.batch):
            self._ask_for_flush()

    def _send_then_hand_over(self, batch: list[_Waiting]) -> bool:
        """Send a batch, wake the requests in it, and the first of the next; tell whether Redis took it all."""
        stored = False
        try:
            stored = self._send([waiting.command for waiting in batch])
        finally:
            with self.lock:
                following, self.queue = self.queue, []
                if following:
                    following[0].batch = following
                else:
                    self.sending = False
            for waiting in batch[1:]:  # the first is this request
                waiting.done.release()
            if following:
                following[0].done.release()
        return stored

    def _send(self, commands: list[bytes]) -> bool:
        connection = self._connection()
        stored = True
        try:  # what the client's pool checks before lending a connection, as cheaply: one poll
            if connection.can_read():
                connection.disconnect()  # bytes nobody asked for: start afresh
        except RedisConnectionError:
            connection.disconnect()  # closed by Redis while idle (a restart, CLIENT KILL): the send opens it again
        try:
            connection.send_packed_command([b"".join(commands)])
            for _command in commands:
                try:
                    connection.read_response()
                except ResponseError as error:  # this entry only (say, Redis is out of memory)
                    self.outage.lose(error)
                    stored = False
        except RedisError as error:
            connection.disconnect()  # and the replies not read yet with it
            self.outage.lose(error, len(commands))  # conservative: some may have been taken before the error
            return False
        return stored

    def _connection(self) -> ConnectionInterface:
        """The process's own connection for events, out of the client's pool (a new one after a fork)."""
        if self.connection is None or self.pid != os.getpid():
            self.connection, self.pid = self.client.connection_pool.make_connection(), os.getpid()
        return self.connection

    def _ask_for_flush(self) -> None:
        now = time.monotonic()
        if now - self.asked_at < 1.0:  # this process asks Redis at most once a second, …
            return
        self.asked_at = now
        try:
            if self.client.set(FLUSH_SOON, 1, nx=True, ex=1):  # … and one request a second, of all, queues it
                Queue(DEFAULT_QUEUE, connection=self.client).enqueue(self.flush_job)
        except RedisError as error:  # the events are in the stream: the reconciler's flush stores them
            log.warning("Could not queue a flush of open and click events: %s", error)


FLUSH_JOB_EXTENSION = "kairan_tracking_flush_job"  # set by tracking.init_app


def writer_for(app: Flask) -> EventWriter:
    """Return the app's event writer (made on first use, on the app's Redis client)."""
    writer: EventWriter | None = app.extensions.get("kairan_tracking_writer")
    if writer is None:
        writer = app.extensions["kairan_tracking_writer"] = EventWriter(app.extensions["kairan_redis"],
                                                                           app.extensions[FLUSH_JOB_EXTENSION])
    return writer
