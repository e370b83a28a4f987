"""Rollups: the counters a campaign's report reads, kept up to date where opens and clicks are stored.

The flusher (tracking/event_batch.py) calls ``add_batch`` in the transaction that inserts a batch of
events, re-judges the stored clicks near them and sets their deliveries' first open and click. It adds,
each counter named by its column:

- per event: the campaign's hour (people's and machines' opens and clicks), the link's clicks, the
  client's and device's opens by people, and the counts of events naming nobody (tracking off);
- per delivery, the difference between its state before the batch and after (``StateChange``): opened and clicked
  by a person (first_open_at, first_click_at set), opened (clicked) only by machines, each link
  clicked by a person, and the same opened and clicked per receiving domain. So a machine's open
  followed by a person's moves the delivery from machine_opened to opened, and a stored click a
  new one re-judges as a scanner's is taken back.

``rebuild`` computes the same tables afresh from deliveries and events with grouped SQL (slow for big
campaigns; ``flask tracking reclassify`` runs it after changing verdicts), and the tests check the
counters against it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Table, and_, case, delete, func, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import count

from core.db import db
from mailer.models import Delivery, Link
from tracking.classify import UNKNOWN
from tracking.metric_queries import TOTALS, hourly_events, sum_of
from tracking.models import (
    CampaignClient,
    CampaignDomain,
    CampaignHourly,
    CampaignLink,
    CampaignTotals,
    EventKind,
    TrackingEvent,
)

E = TrackingEvent
TABLES = (CampaignHourly, CampaignTotals, CampaignLink, CampaignClient, CampaignDomain)
CLIENT, DEVICE = "client", "device"


@dataclass(frozen=True)
class Counted:
    """What the rollups read of one event: new ones as stored, re-judged ones with their old or new verdict."""

    campaign_id: int
    delivery_id: int | None
    link_id: int | None
    kind: EventKind
    at: datetime
    human: bool
    client: str | None = None
    device: str | None = None


@dataclass(frozen=True)
class DeliveryState:
    """What the rollups count of one delivery, before or after a batch."""

    campaign_id: int
    domain: str | None
    opened: bool  # first_open_at is set
    clicked: bool  # first_click_at is set
    machine_open: bool  # some open by a machine
    machine_click: bool
    links: frozenset[int]  # links a person clicked


class StateChange(NamedTuple):
    """One delivery's rollup state before a batch and after it: the rollups add the difference."""

    before: DeliveryState
    after: DeliveryState


class EventTally(NamedTuple):
    """What a delivery's stored events are counted by, for its state (opens name no link)."""

    kind: EventKind
    human: bool
    link_id: int | None


def hour(at: datetime) -> datetime:
    """The UTC hour an event happened in."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.replace(minute=0, second=0, microsecond=0)


def state(campaign_id: int, domain: str | None, first_open_at: datetime | None, first_click_at: datetime | None,
          events: Mapping[EventTally, int]) -> DeliveryState:
    """A delivery's state from its first open and click and its events counted by EventTally."""
    machine_open = machine_click = False
    links = set()
    for (kind, human, link_id), number in events.items():
        if number <= 0:
            continue
        if human:
            if kind == EventKind.CLICK and link_id is not None:
                links.add(link_id)
        elif kind == EventKind.OPEN:
            machine_open = True
        else:
            machine_click = True
    return DeliveryState(campaign_id, domain, first_open_at is not None, first_click_at is not None, machine_open,
                         machine_click, frozenset(links))


class _Deltas:
    """Changes to one rollup table's counters, by row: added to the stored rows in one upsert."""

    def __init__(self, model: Any, keys: Sequence[str], conflict: Sequence[str] | None = None) -> None:
        self.model, self.keys, self.conflict = model, tuple(keys), tuple(conflict or keys)
        self.counters = [c.name for c in model.__table__.c if c.name not in self.keys and c.name != "campaign_id"]
        self.rows: dict[tuple[Any, ...], Counter[str]] = defaultdict(Counter)

    def add(self, key: tuple[Any, ...], counter: str, number: int) -> None:
        self.rows[key][counter] += number

    def upsert(self, session: Session | None = None) -> None:
        _add(self.model, self.conflict, [dict(zip(self.keys, key, strict=True)) | {c: found[c] for c in self.counters}
                                         for key, found in self.rows.items() if any(found.values())], session)


def add_batch(events: Sequence[Counted], taken_back: Sequence[Counted], deliveries: Mapping[int, StateChange]) -> None:
    """Add one flushed batch to the rollups: ``events`` counted, ``taken_back`` uncounted (re-judged clicks
    with their old verdict: their new one is in ``events``), and each delivery's change of state."""
    hourly = _Deltas(CampaignHourly, ("campaign_id", "hour"))
    links = _Deltas(CampaignLink, ("link_id", "campaign_id"), conflict=("link_id",))
    clients = _Deltas(CampaignClient, ("campaign_id", "field", "name"))
    totals = _Deltas(CampaignTotals, ("campaign_id",))
    domains = _Deltas(CampaignDomain, ("campaign_id", "domain"))
    for sign, batch in ((1, events), (-1, taken_back)):
        for event in batch:
            click = event.kind == EventKind.CLICK
            whose = "" if event.human else "machine_"
            what = "clicks" if click else "opens"
            hourly.add((event.campaign_id, hour(event.at)), whose + what, sign)
            if click and event.link_id is not None:
                links.add((event.link_id, event.campaign_id), whose + what, sign)
                if event.human and event.delivery_id is None:  # naming nobody, each counts as one person
                    links.add((event.link_id, event.campaign_id), "clickers", sign)
            if not click and event.human:
                clients.add((event.campaign_id, CLIENT, event.client or UNKNOWN), "opens", sign)
                clients.add((event.campaign_id, DEVICE, event.device or UNKNOWN), "opens", sign)
            if event.delivery_id is None:
                totals.add((event.campaign_id,), f"anonymous_{whose}{what}", sign)
    for before, after in deliveries.values():
        campaign = (after.campaign_id,)
        for counter, was, now in (
                ("opened", before.opened, after.opened), ("clicked", before.clicked, after.clicked),
                ("machine_opened", before.machine_open and not before.opened, after.machine_open and not after.opened),
                ("machine_clicked", before.machine_click and not before.clicked,
                 after.machine_click and not after.clicked)):
            totals.add(campaign, counter, int(now) - int(was))
            if counter in ("opened", "clicked") and after.domain is not None:
                domains.add((after.campaign_id, after.domain), counter, int(now) - int(was))
        for link in after.links - before.links:
            links.add((link, after.campaign_id), "clickers", 1)
        for link in before.links - after.links:
            links.add((link, after.campaign_id), "clickers", -1)
    for deltas in (hourly, links, clients, totals, domains):
        deltas.upsert()


def _add(model: Any, keys: Sequence[str], rows: list[dict[str, Any]], session: Session | None = None) -> None:
    """Add rows' counts to the counters with the same keys (inserting the rows that are not there yet)."""
    if not rows:
        return
    run: Any = session if session is not None else db.session
    table: Table = model.__table__
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    counters = [name for name in rows[0] if name not in keys and name != "campaign_id"]
    stmt = stmt.on_conflict_do_update(index_elements=list(keys),
                                      set_={name: table.c[name] + stmt.excluded[name] for name in counters})
    run.execute(stmt, rows)


def rebuild(campaign_ids: Sequence[int], session: Session | None = None) -> None:
    """Compute these campaigns' rollups afresh from their deliveries and events (in the caller's transaction;
    ``session``: another than the app's, as a migration's)."""
    ids = list(campaign_ids)
    if not ids:
        return
    run: Any = session if session is not None else db.session
    for model in TABLES:
        run.execute(delete(model).where(model.campaign_id.in_(ids)))
    run.flush()
    hourly: dict[tuple[int, datetime], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for campaign_id, at, kind, human, number in hourly_events(ids, session=run):
        hourly[campaign_id, at][2 * (kind == EventKind.CLICK) + (not human)] += number
    _add(CampaignHourly, ("campaign_id", "hour"), [
        {"campaign_id": c, "hour": h, "opens": n[0], "machine_opens": n[1], "clicks": n[2], "machine_clicks": n[3]}
        for (c, h), n in hourly.items()], session)
    person = E.human.is_(True)
    clickers = (func.count(case((person, E.delivery_id)).distinct())
                + func.coalesce(func.sum(case((and_(person, E.delivery_id.is_(None)), 1), else_=0)), 0))
    _add(CampaignLink, ("link_id",), [
        {"link_id": link, "campaign_id": c, "clicks": int(clicks), "clickers": int(people),
         "machine_clicks": int(machines)} for link, c, clicks, people, machines in run.execute(
            select(Link.id, Link.campaign_id, sum_of(person), clickers, sum_of(E.human.is_(False)))
            .select_from(Link).join(E, and_(E.link_id == Link.id, E.kind == EventKind.CLICK))
            .where(Link.campaign_id.in_(ids)).group_by(Link.id, Link.campaign_id))], session)
    for field, column in ((CLIENT, E.client), (DEVICE, E.device)):
        name = func.coalesce(column, literal(UNKNOWN))
        opens = (select(E.campaign_id, name, count())
                 .where(E.campaign_id.in_(ids), E.kind == EventKind.OPEN, person).group_by(E.campaign_id, name))
        _add(CampaignClient, ("campaign_id", "field", "name"), [
            {"campaign_id": c, "field": field, "name": value, "opens": n} for c, value, n in run.execute(opens)],
             session)
    totals: dict[int, dict[str, int]] = {c: dict.fromkeys(TOTALS, 0) for c in ids}
    for c, opened, clicked in run.execute(
            select(Delivery.campaign_id, count(Delivery.first_open_at), count(Delivery.first_click_at))
            .where(Delivery.campaign_id.in_(ids)).group_by(Delivery.campaign_id)):
        totals[c] |= {"opened": opened, "clicked": clicked}
    machine = select(E.campaign_id, E.kind, func.count(E.delivery_id.distinct())).join(
        Delivery, Delivery.id == E.delivery_id).where(
        E.campaign_id.in_(ids), E.human.is_(False),
        or_(and_(E.kind == EventKind.OPEN, Delivery.first_open_at.is_(None)),
            and_(E.kind == EventKind.CLICK, Delivery.first_click_at.is_(None)))).group_by(E.campaign_id, E.kind)
    for c, kind, number in run.execute(machine):
        totals[c]["machine_opened" if kind == EventKind.OPEN else "machine_clicked"] = number
    for c, kind, human, number in run.execute(
            select(E.campaign_id, E.kind, E.human, count()).where(E.delivery_id.is_(None), E.campaign_id.in_(ids))
            .group_by(E.campaign_id, E.kind, E.human)):
        totals[c][f"anonymous_{'' if human else 'machine_'}{'opens' if kind == EventKind.OPEN else 'clicks'}"] = number
    _add(CampaignTotals, ("campaign_id",), [{"campaign_id": c, **n} for c, n in totals.items()], session)
    _add(CampaignDomain, ("campaign_id", "domain"), [
        {"campaign_id": c, "domain": d, "opened": o, "clicked": k} for c, d, o, k in run.execute(
            select(Delivery.campaign_id, Delivery.domain, count(Delivery.first_open_at),
                   count(Delivery.first_click_at))
            .where(Delivery.campaign_id.in_(ids), Delivery.domain.is_not(None),
                   or_(Delivery.first_open_at.is_not(None), Delivery.first_click_at.is_not(None)))
            .group_by(Delivery.campaign_id, Delivery.domain))], session)
