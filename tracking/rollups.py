"""Rollups: the counters a campaign's report reads, kept up to date where opens and clicks are stored.

The flusher (tracking/flush.py) calls ``add_batch`` in the transaction that inserts a batch of events,
re-judges the batch's deliveries' stored clicks and sets their first open and click. It adds:

- per event: the campaign's hour (people's and machines' opens and clicks), the link's clicks, the
  client's and device's opens by people, and the counts of events naming nobody (tracking off);
- per delivery, the difference between its state before the batch and after: opened and clicked
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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


def hour(at: datetime) -> datetime:
    """The UTC hour an event happened in."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.replace(minute=0, second=0, microsecond=0)


def state(campaign_id: int, domain: str | None, first_open_at: datetime | None, first_click_at: datetime | None,
          events: Iterable[tuple[EventKind, bool, int | None]]) -> DeliveryState:
    """A delivery's state from its first open and click and its events' (kind, human, link)."""
    listed = list(events)
    return DeliveryState(campaign_id, domain, first_open_at is not None, first_click_at is not None,
                         any(kind == EventKind.OPEN and not human for kind, human, _link in listed),
                         any(kind == EventKind.CLICK and not human for kind, human, _link in listed),
                         frozenset(link for kind, human, link in listed
                                   if kind == EventKind.CLICK and human and link is not None))


def add_batch(events: Sequence[Counted], taken_back: Sequence[Counted],
              deliveries: Mapping[int, tuple[DeliveryState, DeliveryState]]) -> None:
    """Add one flushed batch to the rollups: ``events`` counted, ``taken_back`` uncounted (re-judged clicks
    with their old verdict: their new one is in ``events``), and each delivery's (before, after) states."""
    hourly: dict[tuple[int, datetime], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    links: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    clients: Counter[tuple[int, str, str]] = Counter()
    totals: dict[int, list[int]] = defaultdict(lambda: [0] * 8)
    domains: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    for sign, batch in ((1, events), (-1, taken_back)):
        for event in batch:
            click = event.kind == EventKind.CLICK
            hourly[event.campaign_id, hour(event.at)][2 * click + (not event.human)] += sign
            if click and event.link_id is not None:
                found = links[event.link_id, event.campaign_id]
                found[0 if event.human else 2] += sign
                if event.human and event.delivery_id is None:  # naming nobody, each counts as one person
                    found[1] += sign
            if not click and event.human:
                clients[event.campaign_id, CLIENT, event.client or UNKNOWN] += sign
                clients[event.campaign_id, DEVICE, event.device or UNKNOWN] += sign
            if event.delivery_id is None:
                totals[event.campaign_id][4 + 2 * click + (not event.human)] += sign
    for before, after in deliveries.values():
        change = [int(after.opened) - int(before.opened), int(after.clicked) - int(before.clicked),
                  int(after.machine_open and not after.opened) - int(before.machine_open and not before.opened),
                  int(after.machine_click and not after.clicked) - int(before.machine_click and not before.clicked)]
        for n, number in enumerate(change):
            totals[after.campaign_id][n] += number
        if after.domain is not None and (change[0] or change[1]):
            found = domains[after.campaign_id, after.domain]
            found[0] += change[0]
            found[1] += change[1]
        for link in after.links - before.links:
            links[link, after.campaign_id][1] += 1
        for link in before.links - after.links:
            links[link, after.campaign_id][1] -= 1
    _add(CampaignHourly, ("campaign_id", "hour"), [
        {"campaign_id": c, "hour": h, "opens": n[0], "machine_opens": n[1], "clicks": n[2], "machine_clicks": n[3]}
        for (c, h), n in hourly.items() if any(n)])
    _add(CampaignLink, ("link_id",), [
        {"link_id": link, "campaign_id": c, "clicks": n[0], "clickers": n[1], "machine_clicks": n[2]}
        for (link, c), n in links.items() if any(n)])
    _add(CampaignClient, ("campaign_id", "field", "name"), [
        {"campaign_id": c, "field": f, "name": name, "opens": n} for (c, f, name), n in clients.items() if n])
    _add(CampaignTotals, ("campaign_id",), [
        dict(zip(("campaign_id", *TOTALS), (c, *n), strict=True)) for c, n in totals.items() if any(n)])
    _add(CampaignDomain, ("campaign_id", "domain"), [
        {"campaign_id": c, "domain": d, "opened": n[0], "clicked": n[1]} for (c, d), n in domains.items() if any(n)])


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
