"""One batch of opens and clicks on its way from the stream to the database: classified, stored, added up.

``store_batch`` costs a fixed number of statements whatever the batch's size: one read each for the
stream ids stored already, the deliveries, the links, the stored clicks near the batch's and the
deliveries' stored events grouped; then one executemany each for the events, the verdicts that
changed, the deliveries' first open and click, and each rollup (tracking/rollups.py). No ORM objects:
plain rows, so a batch of thousands costs milliseconds of Python, not seconds.

What it reads of a delivery's history is only what the batch can change:

- a click is judged with its message's other clicks within SAME_SECOND (classify.judge_all), so of
  stored clicks it loads those within 2 × SAME_SECOND of the batch's clicks (a click that close to a
  new one has all its own neighbours among them), and only those within SAME_SECOND of a new click
  of their message can get a new verdict;
- what the rollups count of a delivery before and after the batch (rollups.DeliveryState) follows
  from its first open and click and its events counted by (kind, person, link): one grouped query.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import bindparam, func, insert, select, tuple_, update

from core.db import db
from core.signals import tracking_events_stored
from mailer.models import Delivery, Link
from tracking import rollups
from tracking.classify import SAME_SECOND, client_and_device, judge_all
from tracking.metrics_cache import changed_on_commit
from tracking.models import EventKind, TrackingEvent
from tracking.rollups import Counted, EventTally, StateChange
from tracking.settings import IPHandling, TrackingSettings
from tracking.stream import Hit

log = logging.getLogger(__name__)

IPV4_PREFIX, IPV6_PREFIX = 24, 48

E = TrackingEvent
EVENTS = TrackingEvent.__table__
DELIVERIES = Delivery.__table__
# Core statements built once: the ORM's bulk paths cost more than the rows (one INSERT per event, here).
_COLUMNS = ("stream_id", "campaign_id", "kind", "at", "delivery_id", "link_id", "user_agent", "ip", "head", "prefetch",
            "client", "device", "human", "rule")
_NEW_VERDICT = (update(EVENTS).where(EVENTS.c.id == bindparam("event_id"))
                .values(human=bindparam("new_human"), rule=bindparam("new_rule")))
_FIRSTS = (update(DELIVERIES).where(DELIVERIES.c.id == bindparam("delivery_id"))
           .values(first_open_at=bindparam("first_open"), first_click_at=bindparam("first_click")))


@dataclass(frozen=True)
class Incoming(Hit):
    """One stream entry on its way to the database: the request as the handler saw it, with its id and time."""

    stream_id: str
    at: datetime


class StoredClick(NamedTuple):
    """A click already stored that the batch's clicks may re-judge (classify.Judged, and what the rollups count)."""

    id: int
    campaign_id: int
    delivery_id: int
    link_id: int | None
    at: datetime
    user_agent: str | None
    head: bool
    prefetch: bool
    human: bool
    rule: str

    @property
    def kind(self) -> EventKind:
        return EventKind.CLICK


class Rejudged(NamedTuple):
    """A stored click whose verdict the batch changed."""

    click: StoredClick
    human: bool
    rule: str


def store_batch(incoming: Sequence[Incoming], settings: TrackingSettings) -> int:
    """Insert the events not stored yet, classified with their messages' other clicks, and add them to the
    rollups (in the caller's transaction); return how many were stored."""
    if not incoming:
        return 0
    c, d = EVENTS.c, DELIVERIES.c
    seen = set(db.session.scalars(select(c.stream_id).where(c.stream_id.in_([e.stream_id for e in incoming]))))
    deliveries = {row.id: row for row in db.session.execute(
        select(d.id, d.campaign_id, d.sent_at, d.domain, d.first_open_at, d.first_click_at)
        .where(d.id.in_({event.delivery_id for event in incoming})))}
    link_campaigns = {link_id: campaign_id for link_id, campaign_id in db.session.execute(
        select(Link.id, Link.campaign_id).where(Link.id.in_({e.link_id for e in incoming if e.link_id is not None})))}
    new = [event for event in incoming if event.stream_id not in seen]
    fresh = [event for event in new if event.delivery_id in deliveries and (
        event.link_id is None or link_campaigns.get(event.link_id) == deliveries[event.delivery_id].campaign_id)]
    if len(fresh) < len(new):
        log.info("dropped %d tracking event(s) of deleted campaigns", len(new) - len(fresh))
    if not fresh:
        return 0
    stored = _clicks_near(fresh) if settings.individuals else []
    verdicts = judge_all([*stored, *fresh], {delivery_id: row.sent_at for delivery_id, row in deliveries.items()})
    changeable = _changeable(stored, fresh)
    rejudged = [Rejudged(click, human, rule) for click, (human, rule) in zip(stored, verdicts, strict=False)
                if click.id in changeable and (click.human, click.rule) != (human, rule)]
    ips: dict[str | None, str | None] = {}  # the same addresses recur (proxies, Apple's relays): each once a batch
    rows = [_row(event, deliveries[event.delivery_id].campaign_id, human, rule, settings, ips=ips)
            for event, (human, rule) in zip(fresh, verdicts[len(stored):], strict=True)]
    tallies_before = _tallies({row["delivery_id"] for row in rows}) if settings.individuals else {}
    _insert_events(rows)
    tracking_events_stored.send(rows=rows)
    if rejudged:
        db.session.execute(_NEW_VERDICT, [{"event_id": r.click.id, "new_human": r.human, "new_rule": r.rule}
                                          for r in rejudged])
    changes = _record_firsts(deliveries, tallies_before, rows, rejudged) if settings.individuals else {}
    rollups.add_batch([*(_counted(row) for row in rows), *(_counted_click(r.click, r.human) for r in rejudged)],
                      [_counted_click(r.click, r.click.human) for r in rejudged], changes)
    changed_on_commit(db.session, {row["campaign_id"] for row in rows})
    return len(rows)


def _insert_events(rows: Sequence[dict[str, Any]]) -> None:
    """Insert events: on PostgreSQL with COPY, which took half the time of an executemany (one INSERT a row, each
    planned and run on its own) for a thousand; SQLite's executemany reuses one prepared statement anyway."""
    if db.engine.dialect.name != "postgresql":
        db.session.execute(insert(EVENTS), rows)
        return
    connection: Any = db.session.connection().connection.dbapi_connection  # the session's, in its transaction
    with connection.cursor() as cursor, cursor.copy(f"COPY tracking_events ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row["kind"].value if name == "kind" else row[name] for name in _COLUMNS])


def _clicks_near(fresh: Sequence[Incoming]) -> list[StoredClick]:
    """Stored clicks within 2 × SAME_SECOND of the batch's clicks, of their messages, on another link than the
    batch's (same-link clicks are no one's neighbours: a reader clicking one link again is no scanner)."""
    clicks = [event for event in fresh if event.kind == EventKind.CLICK]
    if not clicks:
        return []
    links: dict[int, set[int | None]] = {}
    for event in clicks:
        links.setdefault(event.delivery_id, set()).add(event.link_id)
    first, last = min(e.at for e in clicks) - 2 * SAME_SECOND, max(e.at for e in clicks) + 2 * SAME_SECOND
    c = EVENTS.c  # the table's columns: a plain Core query, rows without the ORM's per-row work
    stmt = (select(c.id, c.campaign_id, c.delivery_id, c.link_id, c.at, c.user_agent, c.head, c.prefetch, c.human,
                   c.rule)
            .where(c.delivery_id.in_(list(links)), c.kind == EventKind.CLICK, c.at.between(first, last)))
    only_link = [(delivery, link) for delivery, clicked in links.items() if len(clicked) == 1 for link in clicked]
    if only_link:
        stmt = stmt.where(tuple_(c.delivery_id, c.link_id).not_in(only_link))
    return [StoredClick._make(row) for row in db.session.execute(stmt)]


def _changeable(stored: Sequence[StoredClick], fresh: Sequence[Incoming]) -> set[int]:
    """The stored clicks with a new click of their message on another link within SAME_SECOND: only their verdict
    can change (their every neighbour is among those loaded)."""
    new_clicks: dict[int, list[tuple[datetime, int | None]]] = {}
    for event in fresh:
        if event.kind == EventKind.CLICK:
            new_clicks.setdefault(event.delivery_id, []).append((event.at, event.link_id))
    return {click.id for click in stored if any(abs(click.at - at) < SAME_SECOND and link != click.link_id
                                                for at, link in new_clicks.get(click.delivery_id, ()))}


def _tallies(delivery_ids: Iterable[int]) -> dict[int, dict[EventTally, int]]:
    """Each delivery's stored events counted by (kind, person, link): what its rollup state follows from."""
    found: dict[int, dict[EventTally, int]] = {}
    c = EVENTS.c
    for delivery_id, kind, human, link_id, number in db.session.execute(
            select(c.delivery_id, c.kind, c.human, c.link_id, func.count())
            .where(c.delivery_id.in_(list(delivery_ids))).group_by(c.delivery_id, c.kind, c.human, c.link_id)):
        found.setdefault(delivery_id, {})[EventTally(kind, human, link_id)] = number
    return found


def _record_firsts(deliveries: Mapping[int, Any], before: Mapping[int, dict[EventTally, int]],
                   rows: Sequence[dict[str, Any]], rejudged: Sequence[Rejudged]) -> dict[int, StateChange]:
    """Set the batch's deliveries' first open and click by people (a click counts as an open); return each one's
    rollup state before the batch and after.

    A new event by a person can only bring a first earlier; a click taken back from a person is rare, and
    its delivery's firsts are computed again from its events (``refresh_firsts``).
    """
    after = {d: dict(before.get(d, ())) for d in {row["delivery_id"] for row in rows}}
    firsts = {d: (deliveries[d].first_open_at, deliveries[d].first_click_at) for d in after}
    for row in rows:
        _count(after[row["delivery_id"]], EventTally(row["kind"], row["human"], row["link_id"]), 1)
        if row["human"]:
            firsts[row["delivery_id"]] = _earlier(firsts[row["delivery_id"]], row["at"], row["kind"])
    recount = set()
    for click, human, _rule in rejudged:  # its delivery has a new click: it is among the rows'
        _count(after[click.delivery_id], EventTally(EventKind.CLICK, click.human, click.link_id), -1)
        _count(after[click.delivery_id], EventTally(EventKind.CLICK, human, click.link_id), 1)
        if click.human:
            recount.add(click.delivery_id)
        else:
            firsts[click.delivery_id] = _earlier(firsts[click.delivery_id], click.at, EventKind.CLICK)
    moved = [{"delivery_id": d, "first_open": o, "first_click": c} for d, (o, c) in firsts.items()
             if d not in recount and (o, c) != (deliveries[d].first_open_at, deliveries[d].first_click_at)]
    if moved:
        db.session.execute(_FIRSTS, moved)
    if recount:
        refresh_firsts(recount)
        firsts |= {d: (o, c) for d, o, c in db.session.execute(
            select(Delivery.id, Delivery.first_open_at, Delivery.first_click_at).where(Delivery.id.in_(recount)))}
    return {d: StateChange(rollups.state(deliveries[d].campaign_id, deliveries[d].domain, deliveries[d].first_open_at,
                                         deliveries[d].first_click_at, before.get(d, {})),
                           rollups.state(deliveries[d].campaign_id, deliveries[d].domain, *firsts[d], tally))
            for d, tally in after.items()}


def _count(tally: dict[EventTally, int], key: EventTally, number: int) -> None:
    tally[key] = tally.get(key, 0) + number


def _earlier(firsts: tuple[datetime | None, datetime | None], at: datetime, kind: EventKind
             ) -> tuple[datetime | None, datetime | None]:
    """A delivery's (first open, first click) with a person's event at ``at`` added."""
    first_open, first_click = firsts
    first_open = at if first_open is None or at < first_open else first_open
    if kind == EventKind.CLICK:
        first_click = at if first_click is None or at < first_click else first_click
    return first_open, first_click


def refresh_firsts(delivery_ids: Iterable[int]) -> None:
    """Set each delivery's first open and click from its events: people only, and a click counts as an open."""
    by_person = select(func.min(E.at)).where(E.delivery_id == Delivery.id, E.human.is_(True))
    db.session.execute(
        update(Delivery).where(Delivery.id.in_(list(delivery_ids))).values(
            first_open_at=by_person.scalar_subquery(),
            first_click_at=by_person.where(E.kind == EventKind.CLICK).scalar_subquery()),
        execution_options={"synchronize_session": False})


def _counted(row: dict[str, Any]) -> Counted:
    return Counted(row["campaign_id"], row["delivery_id"], row["link_id"], row["kind"], row["at"], row["human"],
                   row["client"], row["device"])


def _counted_click(click: StoredClick, human: bool) -> Counted:
    """A stored click as the rollups count it with a verdict (clients and devices count only opens)."""
    return Counted(click.campaign_id, click.delivery_id, click.link_id, EventKind.CLICK, click.at, human)


def _row(event: Incoming, campaign_id: int, human: bool, rule: str, settings: TrackingSettings, *,
         ips: dict[str | None, str | None]) -> dict[str, Any]:
    client, device = client_and_device(event.user_agent) if event.user_agent else (None, None)
    person = settings.individuals
    if person and event.ip not in ips:
        ips[event.ip] = kept_ip(event.ip, settings.ip)
    return {"stream_id": event.stream_id, "campaign_id": campaign_id, "kind": event.kind, "at": event.at,
            "delivery_id": event.delivery_id if person else None, "link_id": event.link_id,
            "user_agent": event.user_agent if person else None, "ip": ips[event.ip] if person else None,
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
    # The network as str(ip_network(…, strict=False)) writes it, without building one (a tenth of the time).
    host_bits = parsed.max_prefixlen - prefix
    return f"{type(parsed)(int(parsed) >> host_bits << host_bits)}/{prefix}"
