"""Moving opens and clicks from the Redis stream into the database, in batches, classified.

``flush_events`` reads the stream with a consumer group: an entry is acknowledged (and deleted)
only after the transaction that stored it committed, so a flusher killed at any moment leaves
its entries pending, and the next flush claims them (XAUTOCLAIM). An entry stored twice adds
nothing: its stream id is unique in tracking_events. One flusher runs at a time (a Redis lock);
it is queued by the pixel and the redirect at most once a second, and run by the send reconciler
every KAIRAN_RECONCILE_SECONDS in case Redis lost that job.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from redis import Redis
from redis.exceptions import LockNotOwnedError, ResponseError
from sqlalchemy import select

from core import clock
from core.db import db
from core.queues import redis
from mailer.models import Campaign, Delivery
from tracking import rollups
from tracking.classify import judge_all
from tracking.event_batch import Incoming, refresh_firsts, store_batch
from tracking.metrics_cache import ALL, mark_changed
from tracking.models import EventKind, TrackingEvent
from tracking.stream import STREAM

log = logging.getLogger(__name__)

GROUP = "flusher"
LOCK = "kairan:tracking:flush-lock"
LOCK_SECONDS = 60  # a flusher killed while holding it blocks the others this long at most
BATCH = 1000
RECLASSIFY_CHUNK = 500  # deliveries whose events are judged together
MAX_UA = 2000  # characters of a UA kept; longer ones are padding, not information


def flush_events(max_batch: int = BATCH) -> int:
    """Store what the stream holds, claimed entries of a killed flusher first; return how many were stored."""
    client = redis()
    lock = client.lock(LOCK, timeout=LOCK_SECONDS)
    if not lock.acquire(blocking=False):
        return 0  # another flusher is at it, and it reads until the stream is empty
    try:
        _ensure_group(client)
        consumer = f"{socket.gethostname()}.{os.getpid()}"
        stored = 0
        start = "0-0"
        while True:  # entries read but never acknowledged: their flusher died
            start, entries, *_deleted = client.xautoclaim(STREAM, GROUP, consumer, min_idle_time=0,
                                                          start_id=start, count=max_batch)
            stored += _store(client, entries)
            if start in (b"0-0", "0-0"):
                break
        while True:
            answer: Any = client.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=max_batch)  # [[stream, entries]]
            entries = answer[0][1] if answer else []
            if not entries:
                return stored
            stored += _store(client, entries)
            lock.extend(LOCK_SECONDS, replace_ttl=True)
    finally:
        try:
            lock.release()
        except LockNotOwnedError:
            log.warning("a flush outlived its %d s lock; entries stored twice are kept once", LOCK_SECONDS)


def flushed_to_now() -> bool:
    """Store what the stream holds, and tell whether every event appended before the call is in the database by now.

    False while another flusher holds the lock and has yet to store some of them (``flush_events`` leaves the
    stream to it), or when the flush failed (logged, never raised). Stored entries leave the stream, so one left at
    or before the newest at the call is not stored.
    """
    client = redis()
    newest: Any = client.xrevrange(STREAM, count=1)  # [(id, fields)], or none
    if not newest:
        return True
    flush_on_reconcile()
    return not client.xrange(STREAM, max=newest[0][0], count=1)


def _ensure_group(client: Redis) -> None:
    try:
        client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


def _store(client: Redis, entries: Sequence[tuple[bytes, dict[bytes, bytes] | None]]) -> int:
    """Classify and insert one batch, commit, then acknowledge and delete its entries; return how many were new."""
    if not entries:
        return 0
    ids = [entry_id for entry_id, _fields in entries]
    incoming = [event for event in (_parse(entry_id, fields) for entry_id, fields in entries) if event is not None]
    stored = store_batch(incoming, current_app.config["KAIRAN"].tracking)
    db.session.commit()
    done = client.pipeline(transaction=False)  # one round trip
    done.xack(STREAM, GROUP, *ids)
    done.xdel(STREAM, *ids)  # the personal data in it (UA, IP) lives no longer than this
    done.execute()
    return stored


def _parse(entry_id: bytes, fields: dict[bytes, bytes] | None) -> Incoming | None:
    """Read a stream entry; None (and a log line) for one that is not ours or was deleted."""
    if not fields:  # deleted from the stream after it was read (Redis 6.2's XAUTOCLAIM still names it)
        return None
    try:
        milliseconds = int(entry_id.split(b"-")[0])
        return Incoming(
            stream_id=entry_id.decode(), kind=EventKind(fields[b"k"].decode()),
            at=datetime.fromtimestamp(milliseconds / 1000, UTC) + clock.offset(),  # Redis's clock: moved as ours
            delivery_id=int(fields[b"d"]),
            link_id=int(fields[b"l"]) if b"l" in fields else None,
            user_agent=fields.get(b"ua", b"").decode(errors="replace")[:MAX_UA],
            ip=fields.get(b"ip", b"").decode() or None,
            head=fields.get(b"h") == b"1", prefetch=fields.get(b"p") == b"1")
    except (KeyError, ValueError, UnicodeDecodeError):
        log.warning("dropped a tracking stream entry that is not an event: %r", entry_id)
        return None


def reclassify() -> tuple[int, int]:
    """Run the rules again over every stored event that names its delivery, then rebuild every campaign's
    rollups from the events; return (events judged, changed).

    Events recorded with individual tracking off kept no UA or delivery: their verdict stays. It holds
    the flusher's lock throughout, so no batch is added to a rollup while it is rebuilt.
    """
    lock = redis().lock(LOCK, timeout=LOCK_SECONDS)
    lock.acquire()
    try:
        judged = changed = 0
        last = 0
        while True:
            chunk = [delivery_id for delivery_id in db.session.scalars(
                select(TrackingEvent.delivery_id).where(TrackingEvent.delivery_id > last)
                .group_by(TrackingEvent.delivery_id).order_by(TrackingEvent.delivery_id).limit(RECLASSIFY_CHUNK))
                if delivery_id is not None]
            if not chunk:
                break
            events = list(db.session.scalars(select(TrackingEvent).where(TrackingEvent.delivery_id.in_(chunk))
                                             .order_by(TrackingEvent.id)))
            sent_at = {delivery_id: at for delivery_id, at in db.session.execute(
                select(Delivery.id, Delivery.sent_at).where(Delivery.id.in_(chunk)))}
            changed += _save_changed(events, judge_all(events, sent_at))
            refresh_firsts(chunk)
            db.session.commit()
            judged += len(events)
            last = chunk[-1]
            lock.extend(LOCK_SECONDS, replace_ttl=True)
        for campaign_id in list(db.session.scalars(select(Campaign.id))):  # drafts have nothing: a few quick queries
            rollups.rebuild([campaign_id])
            db.session.commit()
            lock.extend(LOCK_SECONDS, replace_ttl=True)
        mark_changed([ALL])
        return judged, changed
    finally:
        try:
            lock.release()
        except LockNotOwnedError:
            log.warning("reclassifying outlived its %d s lock: run it again if events were flushed meanwhile",
                        LOCK_SECONDS)


def _save_changed(events: Sequence[TrackingEvent], verdicts: Sequence[tuple[bool, str]]) -> int:
    """Give stored events their new verdicts (the session writes only those that changed); return how many."""
    changed = 0
    for event, (human, rule) in zip(events, verdicts, strict=True):
        if (event.human, event.rule) != (human, rule):
            event.human, event.rule = human, rule
            changed += 1
    db.session.flush()
    return changed


def flush_on_reconcile(_sender: object = None) -> None:
    """The send reconciler's signal: flush here too, in case Redis lost the queued flush; never fail it."""
    try:
        flush_events()
    except Exception:  # the reconciler's own work must go on; the entries stay in the stream
        log.exception("flushing tracking events failed")
        db.session.rollback()
