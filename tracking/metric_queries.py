"""The SQL behind campaign metrics (tracking/metrics.py): small tables and indexes, never whole campaigns' rows.

Opens and clicks come from the rollups the flusher keeps (tracking/rollups.py); deliveries by
status and receiving domain from tracking/tallies.py; bounces (few) from their indexes. Nothing
here loads deliveries or events into Python, and nothing writes. The queries take several
campaigns at once where a page shows several (the campaign list, the comparison), so a page costs
a fixed number of queries. listmonk's analytics, which take any time
range, group the events themselves (``hourly_events``, ``link_totals``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import count

from core.db import db, hour_of, parse_hour
from mailer.models import Delivery, DeliveryStatus, Link
from tracking.models import (
    Bounce,
    BounceType,
    CampaignClient,
    CampaignDomain,
    CampaignHourly,
    CampaignLink,
    CampaignTotals,
    Conversion,
    EventKind,
    TrackingEvent,
)

# Every counter of campaign_totals, by its column's name (a new column is read with the others).
TOTALS = tuple(column.name for column in CampaignTotals.__table__.c if column.name != "campaign_id")

E = TrackingEvent


def sum_of(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def totals(campaign_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per campaign: the rollup of deliveries opened and clicked, by people and only by machines, and of
    events naming nobody (tracking/models.py CampaignTotals)."""
    columns = [CampaignTotals.__table__.c[name] for name in TOTALS]
    found = {campaign_id: dict.fromkeys(TOTALS, 0) for campaign_id in campaign_ids}
    for campaign_id, *numbers in db.session.execute(
            select(CampaignTotals.campaign_id, *columns).where(CampaignTotals.campaign_id.in_(campaign_ids))):
        found[campaign_id] = {name: int(number) for name, number in zip(TOTALS, numbers, strict=True)}
    return found


def conversion_counts(campaign_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Per campaign: its conversions, the deliveries that converted, revenue per currency (minor units), and
    conversions whose amount added nothing, per problem. From the conversions table (one row per conversion)."""
    found: dict[int, dict[str, Any]] = {campaign_id: {"conversions": 0, "converted": 0, "revenue": {}, "problems": {}}
                                        for campaign_id in campaign_ids}
    for campaign_id, conversions, converted in db.session.execute(
            select(Conversion.campaign_id, count(), func.count(Conversion.delivery_id.distinct()))
            .where(Conversion.campaign_id.in_(campaign_ids)).group_by(Conversion.campaign_id)):
        found[campaign_id].update(conversions=int(conversions), converted=int(converted))
    for campaign_id, currency, problem, number, amount in db.session.execute(
            select(Conversion.campaign_id, Conversion.currency, Conversion.problem, count(),
                   func.sum(Conversion.amount))
            .where(Conversion.campaign_id.in_(campaign_ids),
                   Conversion.amount.is_not(None) | Conversion.problem.is_not(None))
            .group_by(Conversion.campaign_id, Conversion.currency, Conversion.problem)):
        if problem is not None:
            problems = found[campaign_id]["problems"]
            problems[problem] = problems.get(problem, 0) + int(number)
        else:
            found[campaign_id]["revenue"][currency] = int(amount or 0)
    return found


def conversions_by_delivery(campaign_id: int) -> dict[int, int]:
    """Which deliveries of a campaign converted: delivery id → its conversions (an A/B test's winning measure)."""
    return {delivery_id: int(number) for delivery_id, number in db.session.execute(
        select(Conversion.delivery_id, count()).where(Conversion.campaign_id == campaign_id)
        .group_by(Conversion.delivery_id))}


def bounce_counts(campaign_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Per campaign: sent deliveries with a bounce (hard wins over soft; a sender refusal is soft), those per
    receiving domain (``domains``), and complaints. One pass over the campaigns' bounces (they are few)."""
    per_delivery = (
        select(Bounce.campaign_id, Bounce.delivery_id, func.max(case((Bounce.type == BounceType.HARD, 1), else_=0))
               .label("hard"))
        .where(Bounce.campaign_id.in_(campaign_ids), Bounce.type != BounceType.COMPLAINT)
        .group_by(Bounce.campaign_id, Bounce.delivery_id).subquery())
    counts: dict[int, dict[str, Any]] = {}

    def of(campaign_id: int) -> dict[str, Any]:
        return counts.setdefault(campaign_id, {"bounced": 0, "hard": 0, "complaints": 0, "domains": {}})
    sent = select(Delivery.domain).where(Delivery.id == per_delivery.c.delivery_id,
                                         Delivery.status == DeliveryStatus.SENT)
    per = per_delivery.c
    if db.engine.dialect.name == "postgresql":
        # One primary-key lookup per bounce: PostgreSQL would otherwise join by scanning every delivery
        # (~0.5 s at a million), and OFFSET 0 keeps it from flattening the lateral join back into that.
        looked_up = sent.offset(0).lateral("sent")
        joined = select(per.campaign_id, per.hard, looked_up.c.domain).join_from(per_delivery, looked_up, true())
    else:  # SQLite looks each delivery up by its primary key anyway
        joined = select(per.campaign_id, per.hard, Delivery.domain).join_from(
            per_delivery, Delivery, Delivery.id == per.delivery_id).where(Delivery.status == DeliveryStatus.SENT)
    rows = joined.subquery()
    for campaign_id, domain, bounced, hard in db.session.execute(
            select(rows.c.campaign_id, rows.c.domain, count(), func.sum(rows.c.hard))
            .group_by(rows.c.campaign_id, rows.c.domain)):
        found = of(campaign_id)
        found["bounced"] += bounced
        found["hard"] += int(hard or 0)
        if domain is not None:
            found["domains"][domain] = bounced
    for campaign_id, complaints in db.session.execute(
            select(Bounce.campaign_id, func.count(Bounce.delivery_id.distinct()))
            .where(Bounce.campaign_id.in_(campaign_ids), Bounce.type == BounceType.COMPLAINT)
            .group_by(Bounce.campaign_id)):
        of(campaign_id or 0)["complaints"] = complaints
    return counts


def hourly_events(campaign_ids: Sequence[int], kinds: Sequence[EventKind] = (EventKind.OPEN, EventKind.CLICK),
                  since: datetime | None = None, until: datetime | None = None, session: Session | None = None
                  ) -> list[tuple[int, datetime, str, bool, int]]:
    """(campaign, UTC hour, kind, human, events) for each hour with events, oldest first (``session``: another
    than the app's, as a migration's)."""
    hour = hour_of(E.at).label("hour")
    stmt = (select(E.campaign_id, hour, E.kind, E.human, count())
            .where(E.campaign_id.in_(campaign_ids), E.kind.in_(kinds))
            .group_by(E.campaign_id, E.kind, E.human, hour).order_by(hour))
    if since is not None:
        stmt = stmt.where(E.at >= since)
    if until is not None:
        stmt = stmt.where(E.at < until)
    return [(campaign_id, parse_hour(at), EventKind(kind).value, bool(human), number)
            for campaign_id, at, kind, human, number in (session or db.session).execute(stmt)]


def hourly_bounces(campaign_ids: Sequence[int], since: datetime | None, until: datetime | None
                   ) -> list[tuple[int, datetime, int]]:
    """(campaign, UTC hour, bounces) for each hour with bounces (complaints are not bounces)."""
    hour = hour_of(Bounce.created_at).label("hour")
    stmt = (select(Bounce.campaign_id, hour, count())
            .where(Bounce.campaign_id.in_(campaign_ids), Bounce.type != BounceType.COMPLAINT)
            .group_by(Bounce.campaign_id, hour).order_by(hour))
    if since is not None:
        stmt = stmt.where(Bounce.created_at >= since)
    if until is not None:
        stmt = stmt.where(Bounce.created_at < until)
    return [(campaign_id, parse_hour(at), number) for campaign_id, at, number in db.session.execute(stmt)]


def hourly(campaign_id: int) -> list[tuple[datetime, int, int, int, int]]:
    """(UTC hour, people's opens, machines' opens, people's clicks, machines' clicks) of each hour, oldest first."""
    h = CampaignHourly
    return [tuple(row) for row in db.session.execute(  # type: ignore[misc]
        select(h.hour, h.opens, h.machine_opens, h.clicks, h.machine_clicks)
        .where(h.campaign_id == campaign_id).order_by(h.hour))]


def link_clicks(campaign_id: int) -> list[tuple[str, int, int, int]]:
    """(url, clicks by people, people who clicked it, clicks by machines) of every tracked link, most clicked first.

    Clicks recorded with individual tracking off name nobody: each counts as one person.
    """
    r = CampaignLink
    people = func.coalesce(r.clickers, 0)
    stmt = (select(Link.url, func.coalesce(r.clicks, 0), people, func.coalesce(r.machine_clicks, 0))
            .select_from(Link).outerjoin(r, r.link_id == Link.id)
            .where(Link.campaign_id == campaign_id).order_by(people.desc(), Link.id))
    return [(url, int(clicks), int(unique), int(machine)) for url, clicks, unique, machine in db.session.execute(stmt)]


def domain_rollup(campaign_id: int) -> dict[str, tuple[int, int]]:
    """Domain -> (deliveries a person opened, clicked), from the rollup."""
    return {name: (int(opened), int(clicked)) for name, opened, clicked in db.session.execute(
        select(CampaignDomain.domain, CampaignDomain.opened, CampaignDomain.clicked)
        .where(CampaignDomain.campaign_id == campaign_id))}


def opens_by(field: str, campaign_id: int, top: int) -> list[tuple[str, int]]:
    """(client or device, opens by people) of the ``top`` most frequent, from the rollup (``field``: client, device)."""
    c = CampaignClient
    return [(str(name), int(opens)) for name, opens in db.session.execute(
        select(c.name, c.opens).where(c.campaign_id == campaign_id, c.field == field, c.opens > 0)
        .order_by(c.opens.desc(), c.name).limit(top))]


def recent_bounces(campaign_id: int, limit: int) -> list[Bounce]:
    """The campaign's newest bounces and complaints (a page of rows, not an aggregate)."""
    return list(db.session.scalars(select(Bounce).where(Bounce.campaign_id == campaign_id)
                                   .order_by(Bounce.created_at.desc(), Bounce.id.desc()).limit(limit)))


def listmonk_counts(campaign_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """listmonk's views, clicks and bounces of several campaigns: unique opens and clicks by people, and
    bounced sent deliveries, as the metrics define them."""
    bounces = bounce_counts(campaign_ids)
    return {campaign_id: {"views": t["opened"] + t["anonymous_opens"], "clicks": t["clicked"] + t["anonymous_clicks"],
                          "bounces": bounces.get(campaign_id, {}).get("bounced", 0)}
            for campaign_id, t in totals(campaign_ids).items()}


def link_totals(campaign_ids: Sequence[int], since: datetime | None, until: datetime | None
                ) -> list[tuple[str, int]]:
    """(url, clicks by people) over these campaigns' links within a time range, most clicked first."""
    clicks = count().label("clicks")
    stmt = (select(Link.url, clicks).select_from(E).join(Link, Link.id == E.link_id)
            .where(E.campaign_id.in_(campaign_ids), E.kind == EventKind.CLICK, E.human.is_(True))
            .group_by(Link.url).order_by(clicks.desc(), Link.url))
    if since is not None:
        stmt = stmt.where(E.at >= since)
    if until is not None:
        stmt = stmt.where(E.at < until)
    return [(url, int(number)) for url, number in db.session.execute(stmt)]
