"""The aggregate SQL behind campaign metrics (tracking/metrics.py): every count is a GROUP BY in the database.

Nothing here loads deliveries or events into Python: each query returns one row per campaign, per
hour, per link or per domain. The queries take several campaigns at once where a page shows
several (the campaign list, the comparison), so a page costs a fixed number of queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import count

from core.db import db
from lists.models import Subscriber
from mailer.models import Delivery, DeliveryStatus, Link
from tracking.classify import UNKNOWN
from tracking.models import Bounce, BounceType, EventKind, TrackingEvent

E = TrackingEvent


def _sum(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def delivery_counts(campaign_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per campaign: recipients by status, and deliveries a person opened, clicked, or unsubscribed from."""
    rows = db.session.execute(
        select(Delivery.campaign_id, Delivery.status, count(), count(Delivery.first_open_at),
               count(Delivery.first_click_at), count(Delivery.unsubscribed_at))
        .where(Delivery.campaign_id.in_(campaign_ids)).group_by(Delivery.campaign_id, Delivery.status))
    counts: dict[int, dict[str, int]] = {}
    for campaign_id, status, rows_, opened, clicked, unsubscribed in rows:
        found = counts.setdefault(campaign_id, {s.value: 0 for s in DeliveryStatus} | {
            "opened": 0, "clicked": 0, "unsubscribed": 0})
        found[DeliveryStatus(status).value] += rows_
        found["opened"] += opened
        found["clicked"] += clicked
        found["unsubscribed"] += unsubscribed
    return counts


def bounce_counts(campaign_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per campaign: sent deliveries with a bounce (hard wins over soft; a sender refusal is soft), and complaints."""
    per_delivery = (
        select(Bounce.campaign_id, Bounce.delivery_id, func.max(case((Bounce.type == BounceType.HARD, 1), else_=0))
               .label("hard"))
        .join(Delivery, Delivery.id == Bounce.delivery_id)
        .where(Bounce.campaign_id.in_(campaign_ids), Bounce.type != BounceType.COMPLAINT,
               Delivery.status == DeliveryStatus.SENT)
        .group_by(Bounce.campaign_id, Bounce.delivery_id).subquery())
    counts: dict[int, dict[str, int]] = {}
    for campaign_id, bounced, hard in db.session.execute(
            select(per_delivery.c.campaign_id, count(), func.sum(per_delivery.c.hard))
            .group_by(per_delivery.c.campaign_id)):
        counts[campaign_id] = {"bounced": bounced, "hard": int(hard or 0), "complaints": 0}
    for campaign_id, complaints in db.session.execute(
            select(Bounce.campaign_id, func.count(Bounce.delivery_id.distinct()))
            .where(Bounce.campaign_id.in_(campaign_ids), Bounce.type == BounceType.COMPLAINT)
            .group_by(Bounce.campaign_id)):
        counts.setdefault(campaign_id or 0, {"bounced": 0, "hard": 0, "complaints": 0})["complaints"] = complaints
    return counts


def machine_only(campaign_ids: Sequence[int]) -> dict[tuple[int, str], int]:
    """(campaign, kind) -> deliveries that machines opened (clicked) and no person did."""
    return {(campaign_id, EventKind(kind).value): number for campaign_id, kind, number in db.session.execute(
        select(E.campaign_id, E.kind, func.count(E.delivery_id.distinct()))
        .join(Delivery, Delivery.id == E.delivery_id)
        .where(E.campaign_id.in_(campaign_ids), E.human.is_(False),
               or_(and_(E.kind == EventKind.OPEN, Delivery.first_open_at.is_(None)),
                   and_(E.kind == EventKind.CLICK, Delivery.first_click_at.is_(None))))
        .group_by(E.campaign_id, E.kind))}


def anonymous_events(campaign_ids: Sequence[int]) -> dict[tuple[int, str, bool], int]:
    """(campaign, kind, human) -> events recorded with individual tracking off (they name no delivery)."""
    return {(campaign_id, EventKind(kind).value, bool(human)): number
            for campaign_id, kind, human, number in db.session.execute(
                select(E.campaign_id, E.kind, E.human, count())
                .where(E.delivery_id.is_(None), E.campaign_id.in_(campaign_ids))
                .group_by(E.campaign_id, E.kind, E.human))}


def hour_of(column: Any) -> Any:
    """The UTC hour an event happened in, as an expression each database groups by cheaply."""
    if db.engine.dialect.name == "sqlite":
        return func.substr(column, 1, 13)  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC
    return func.date_trunc("hour", func.timezone("UTC", column))


def parse_hour(value: Any) -> datetime:
    """Read back what ``hour_of`` grouped by, as an aware UTC datetime."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC)
    return datetime.strptime(value, "%Y-%m-%d %H").replace(tzinfo=UTC)


def hourly_events(campaign_ids: Sequence[int], kinds: Sequence[EventKind] = (EventKind.OPEN, EventKind.CLICK),
                  since: datetime | None = None, until: datetime | None = None
                  ) -> list[tuple[int, datetime, str, bool, int]]:
    """(campaign, UTC hour, kind, human, events) for each hour with events, oldest first."""
    hour = hour_of(E.at).label("hour")
    stmt = (select(E.campaign_id, hour, E.kind, E.human, count())
            .where(E.campaign_id.in_(campaign_ids), E.kind.in_(kinds))
            .group_by(E.campaign_id, E.kind, E.human, hour).order_by(hour))
    if since is not None:
        stmt = stmt.where(E.at >= since)
    if until is not None:
        stmt = stmt.where(E.at < until)
    return [(campaign_id, parse_hour(at), EventKind(kind).value, bool(human), number)
            for campaign_id, at, kind, human, number in db.session.execute(stmt)]


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


def link_clicks(campaign_id: int) -> list[tuple[str, int, int, int]]:
    """(url, clicks by people, people who clicked it, clicks by machines) of every tracked link, most clicked first.

    Clicks recorded with individual tracking off name nobody: each counts as one person.
    """
    people = (func.count(case((E.human.is_(True), E.delivery_id)).distinct())
              + _sum(and_(E.human.is_(True), E.delivery_id.is_(None))))
    stmt = (select(Link.url, _sum(E.human.is_(True)), people.label("people"), _sum(E.human.is_(False)))
            .select_from(Link).outerjoin(E, and_(E.link_id == Link.id, E.kind == EventKind.CLICK))
            .where(Link.campaign_id == campaign_id).group_by(Link.id, Link.url)
            .order_by(people.desc(), Link.id))
    return [(url, int(clicks), int(unique), int(machine)) for url, clicks, unique, machine in db.session.execute(stmt)]


def domain_of(email: Any) -> Any:
    """The receiving domain of an address column: what follows its last @."""
    if db.engine.dialect.name == "sqlite":
        # rtrim strips every character but @ from the end, leaving the address up to its last @.
        return func.substr(email, func.length(func.rtrim(email, func.replace(email, "@", ""))) + 1)
    return func.reverse(func.split_part(func.reverse(email), "@", 1))


def domain_counts(campaign_id: int, top: int) -> list[tuple[str, int, int, int, int]]:
    """(domain, recipients, sent, opened, clicked) of the ``top`` domains with most recipients."""
    domain = domain_of(Subscriber.email_key).label("domain")
    recipients = count().label("recipients")
    stmt = (select(domain, recipients, _sum(Delivery.status == DeliveryStatus.SENT),
                   count(Delivery.first_open_at), count(Delivery.first_click_at))
            .select_from(Delivery).join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.campaign_id == campaign_id).group_by(domain)
            .order_by(recipients.desc(), domain).limit(top))
    return [(name, int(r), int(s), int(o), int(c)) for name, r, s, o, c in db.session.execute(stmt)]


def domain_bounces(campaign_id: int) -> dict[str, int]:
    """Domain -> sent deliveries with a bounce (a handful of rows per campaign: grouped, then read)."""
    domain = domain_of(Subscriber.email_key).label("domain")
    stmt = (select(domain, func.count(Bounce.delivery_id.distinct()))
            .select_from(Bounce).join(Delivery, Delivery.id == Bounce.delivery_id)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Bounce.campaign_id == campaign_id, Bounce.type != BounceType.COMPLAINT,
                   Delivery.status == DeliveryStatus.SENT).group_by(domain))
    return {name: int(number) for name, number in db.session.execute(stmt)}


def opens_by(column: Any, campaign_id: int, top: int) -> list[tuple[str, int]]:
    """(value, opens by people) of an event column (client or device), the ``top`` most frequent."""
    number = count().label("opens")
    name = func.coalesce(column, literal(UNKNOWN)).label("name")  # no UA (individual tracking off): ua-parser's "Other"
    stmt = (select(name, number)
            .where(E.campaign_id == campaign_id, E.kind == EventKind.OPEN, E.human.is_(True))
            .group_by(name).order_by(number.desc(), name).limit(top))
    return [(str(name), int(opens)) for name, opens in db.session.execute(stmt)]


def recent_bounces(campaign_id: int, limit: int) -> list[Bounce]:
    """The campaign's newest bounces and complaints (a page of rows, not an aggregate)."""
    return list(db.session.scalars(select(Bounce).where(Bounce.campaign_id == campaign_id)
                                   .order_by(Bounce.created_at.desc(), Bounce.id.desc()).limit(limit)))


def listmonk_counts(campaign_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """listmonk's views, clicks and bounces of several campaigns in one query: unique opens and clicks by
    people, and bounced sent deliveries, as the metrics define them."""
    inner = aliased(Delivery)
    bounced = (select(func.count(Bounce.delivery_id.distinct())).join(inner, inner.id == Bounce.delivery_id)
               .where(Bounce.campaign_id == Delivery.campaign_id, Bounce.type != BounceType.COMPLAINT,
                      inner.status == DeliveryStatus.SENT).scalar_subquery())

    def anonymous(kind: EventKind) -> Any:
        return (select(count()).select_from(E).where(E.delivery_id.is_(None), E.kind == kind, E.human.is_(True),
                                                     E.campaign_id == Delivery.campaign_id).scalar_subquery())
    stmt = (select(Delivery.campaign_id, count(Delivery.first_open_at) + anonymous(EventKind.OPEN),
                   count(Delivery.first_click_at) + anonymous(EventKind.CLICK), bounced)
            .where(Delivery.campaign_id.in_(campaign_ids)).group_by(Delivery.campaign_id))
    return {campaign_id: {"views": int(views), "clicks": int(clicks), "bounces": int(bounces)}
            for campaign_id, views, clicks, bounces in db.session.execute(stmt)}


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
