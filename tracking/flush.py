"""Moving opens and clicks from the Redis stream into the database, in batches, classified.

``flush_events`` reads the stream with a consumer group: an entry is acknowledged (and deleted)
only after the transaction that stored it committed, so a flusher killed at any moment leaves
its entries pending, and the next flush claims them (XAUTOCLAIM). An entry stored twice adds
nothing: its stream id is unique in tracking_events. One flusher runs at a time (a Redis lock);
it is queued by the pixel and the redirect at most once a second, and run by the send reconciler
every KAIRAN_RECONCILE_SECONDS in case Redis lost that job.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from redis import Redis
from redis.exceptions import LockNotOwnedError, ResponseError
from sqlalchemy import func, insert, select, update

from core.db import db
from core.queues import redis
from mailer.models import Campaign, Delivery, Link
from tracking import rollups
from tracking.classify import client_and_device, judge_all
from tracking.metrics_cache import ALL, changed_on_commit, mark_changed
from tracking.models import EventKind, TrackingEvent
from tracking.settings import IPHandling, TrackingSettings
from tracking.stream import STREAM, Hit

log = logging.getLogger(__name__)

GROUP = "flusher"
LOCK = "kairan:tracking:flush-lock"
LOCK_SECONDS = 60  # a flusher killed while holding it blocks the others this long at most
BATCH = 1000
RECLASSIFY_CHUNK = 500  # deliveries whose events are judged together
IPV4_PREFIX, IPV6_PREFIX = 24, 48
MAX_UA = 2000  # characters of a UA kept; longer ones are padding, not information


@dataclass(frozen=True)
class Incoming(Hit):
    """One stream entry on its way to the database: the request as the handler saw it, with its id and time."""

    stream_id: str
    at: datetime


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
    stored = _insert(incoming, current_app.config["KAIRAN"].tracking)
    db.session.commit()
    client.xack(STREAM, GROUP, *ids)
    client.xdel(STREAM, *ids)  # the personal data in it (UA, IP) lives no longer than this
    return stored


def _parse(entry_id: bytes, fields: dict[bytes, bytes] | None) -> Incoming | None:
    """Read a stream entry; None (and a log line) for one that is not ours or was deleted."""
    if not fields:  # deleted from the stream after it was read (Redis 6.2's XAUTOCLAIM still names it)
        return None
    try:
        milliseconds = int(entry_id.split(b"-")[0])
        return Incoming(
            stream_id=entry_id.decode(), kind=EventKind(fields[b"k"].decode()),
            at=datetime.fromtimestamp(milliseconds / 1000, UTC), delivery_id=int(fields[b"d"]),
            link_id=int(fields[b"l"]) if b"l" in fields else None,
            user_agent=fields.get(b"ua", b"").decode(errors="replace")[:MAX_UA],
            ip=fields.get(b"ip", b"").decode() or None,
            head=fields.get(b"h") == b"1", prefetch=fields.get(b"p") == b"1")
    except (KeyError, ValueError, UnicodeDecodeError):
        log.warning("dropped a tracking stream entry that is not an event: %r", entry_id)
        return None


def _insert(incoming: list[Incoming], settings: TrackingSettings) -> int:
    """Insert the events not stored yet, classified with their messages' other clicks, and add them to the rollups."""
    if not incoming:
        return 0
    seen = set(db.session.scalars(select(TrackingEvent.stream_id).where(
        TrackingEvent.stream_id.in_([event.stream_id for event in incoming]))))
    delivery_ids = {event.delivery_id for event in incoming}
    deliveries = {row.id: row for row in db.session.execute(
        select(Delivery.id, Delivery.campaign_id, Delivery.sent_at, Delivery.domain, Delivery.first_open_at,
               Delivery.first_click_at).where(Delivery.id.in_(delivery_ids)))}
    link_campaigns = {link_id: campaign_id for link_id, campaign_id in db.session.execute(
        select(Link.id, Link.campaign_id).where(Link.id.in_({e.link_id for e in incoming if e.link_id is not None})))}
    new = [event for event in incoming if event.stream_id not in seen]
    fresh = [event for event in new if event.delivery_id in deliveries and (
        event.link_id is None or link_campaigns.get(event.link_id) == deliveries[event.delivery_id].campaign_id)]
    if len(fresh) < len(new):
        log.info("dropped %d tracking event(s) of deleted campaigns", len(new) - len(fresh))
    if not fresh:
        return 0
    sent_at = {delivery_id: row.sent_at for delivery_id, row in deliveries.items()}
    stored_clicks = _clicks_of(deliveries) if settings.individuals else []
    was_human = [event.human for event in stored_clicks]
    verdicts = judge_all([*stored_clicks, *fresh], sent_at)
    _save_changed(stored_clicks, verdicts[:len(stored_clicks)])
    rows = [_row(event, deliveries[event.delivery_id].campaign_id, human, rule, settings)
            for event, (human, rule) in zip(fresh, verdicts[len(stored_clicks):], strict=True)]
    machine_opened = _machine_opened(deliveries) if settings.individuals else set()
    db.session.execute(insert(TrackingEvent), rows)
    changed_on_commit(db.session, {row["campaign_id"] for row in rows})
    rejudged = [(event, old) for event, old in zip(stored_clicks, was_human, strict=True) if event.human != old]
    counted = [rollups.Counted(row["campaign_id"], row["delivery_id"], row["link_id"], row["kind"], row["at"],
                               row["human"], row["client"], row["device"]) for row in rows]
    states: dict[int, tuple[rollups.DeliveryState, rollups.DeliveryState]] = {}
    if settings.individuals:
        refresh_firsts(deliveries)
        firsts = {row.id: row for row in db.session.execute(select(
            Delivery.id, Delivery.first_open_at, Delivery.first_click_at).where(Delivery.id.in_(list(deliveries))))}
        states = _states(deliveries, firsts, machine_opened, list(zip(stored_clicks, was_human, strict=True)), rows)
    rollups.add_batch([*counted, *(_counted(event, event.human) for event, _old in rejudged)],
                      [_counted(event, old) for event, old in rejudged], states)
    return len(rows)


def _counted(event: TrackingEvent, human: bool) -> rollups.Counted:
    return rollups.Counted(event.campaign_id, event.delivery_id, event.link_id, event.kind, event.at, human,
                           event.client, event.device)


def _machine_opened(delivery_ids: Iterable[int]) -> set[int]:
    """The deliveries among these with an open by a machine stored."""
    return set(db.session.scalars(select(TrackingEvent.delivery_id).where(
        TrackingEvent.delivery_id.in_(list(delivery_ids)), TrackingEvent.kind == EventKind.OPEN,
        TrackingEvent.human.is_(False)).distinct()))


def _states(deliveries: dict[int, Any], firsts: dict[int, Any], machine_opened: set[int],
            stored_clicks: Sequence[tuple[TrackingEvent, bool]], rows: Sequence[dict[str, Any]]
            ) -> dict[int, tuple[rollups.DeliveryState, rollups.DeliveryState]]:
    """Each delivery's state for the rollups before this batch and after it (stored clicks: with their old verdict)."""
    before: dict[int, list[tuple[EventKind, bool, int | None]]] = {d: [] for d in deliveries}
    after: dict[int, list[tuple[EventKind, bool, int | None]]] = {d: [] for d in deliveries}
    for delivery_id in machine_opened:
        before[delivery_id].append((EventKind.OPEN, False, None))
        after[delivery_id].append((EventKind.OPEN, False, None))
    for event, old in stored_clicks:
        if event.delivery_id in before:
            before[event.delivery_id].append((EventKind.CLICK, old, event.link_id))
            after[event.delivery_id].append((EventKind.CLICK, event.human, event.link_id))
    for row in rows:
        after[row["delivery_id"]].append((row["kind"], row["human"], row["link_id"]))
    return {d: (rollups.state(row.campaign_id, row.domain, row.first_open_at, row.first_click_at, before[d]),
                rollups.state(row.campaign_id, row.domain, firsts[d].first_open_at, firsts[d].first_click_at,
                              after[d]))
            for d, row in deliveries.items()}


def _row(event: Incoming, campaign_id: int, human: bool, rule: str, settings: TrackingSettings) -> dict[str, Any]:
    client, device = client_and_device(event.user_agent) if event.user_agent else (None, None)
    person = settings.individuals
    return {"stream_id": event.stream_id, "campaign_id": campaign_id, "kind": event.kind, "at": event.at,
            "delivery_id": event.delivery_id if person else None, "link_id": event.link_id,
            "user_agent": event.user_agent if person else None,
            "ip": kept_ip(event.ip, settings.ip) if person else None,
            "head": event.head, "prefetch": event.prefetch, "client": client, "device": device,
            "human": human, "rule": rule}


def kept_ip(address: str | None, handling: IPHandling) -> str | None:
    """What an event keeps of an IP address: its /24 or /48 network, a keyed hash, or nothing."""
    if not address or handling == IPHandling.NONE:
        return None
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    if handling == IPHandling.HASH:
        key = hashlib.sha256(b"kairan.ip:" + current_app.config["SECRET_KEY"].encode()).digest()
        return hmac.new(key, parsed.packed, hashlib.sha256).hexdigest()[:32]
    prefix = IPV4_PREFIX if parsed.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False))


def _clicks_of(delivery_ids: Iterable[int]) -> list[TrackingEvent]:
    return list(db.session.scalars(select(TrackingEvent).where(
        TrackingEvent.delivery_id.in_(list(delivery_ids)), TrackingEvent.kind == EventKind.CLICK)))


def _save_changed(events: Sequence[TrackingEvent], verdicts: Sequence[tuple[bool, str]]) -> int:
    """Give stored events their new verdicts (the session writes only those that changed); return how many."""
    changed = 0
    for event, (human, rule) in zip(events, verdicts, strict=True):
        if (event.human, event.rule) != (human, rule):
            event.human, event.rule = human, rule
            changed += 1
    db.session.flush()
    return changed


def refresh_firsts(delivery_ids: Iterable[int]) -> None:
    """Set each delivery's first open and click from its events: people only, and a click counts as an open."""
    by_person = select(func.min(TrackingEvent.at)).where(TrackingEvent.delivery_id == Delivery.id,
                                                         TrackingEvent.human.is_(True))
    db.session.execute(
        update(Delivery).where(Delivery.id.in_(list(delivery_ids))).values(
            first_open_at=by_person.scalar_subquery(),
            first_click_at=by_person.where(TrackingEvent.kind == EventKind.CLICK).scalar_subquery()),
        execution_options={"synchronize_session": False})


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


def flush_on_reconcile(_sender: object = None) -> None:
    """The send reconciler's signal: flush here too, in case Redis lost the queued flush; never fail it."""
    try:
        flush_events()
    except Exception:  # the reconciler's own work must go on; the entries stay in the stream
        log.exception("flushing tracking events failed")
        db.session.rollback()
