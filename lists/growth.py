"""The home's audience panel: subscribers over time (who joined, who left, per day) and each list's size.

Each reads an index only: joined is grouped by UTC hour over ``subscribers.created_at``, left by hour over the
unsubscribe consent records (``ix_consent_records_status_created``), and the hours are added up into local days
here (at most 24 × DAYS rows); list sizes are one grouped count of the subscriptions index. With a million
subscribers those counts still read every subscription (a second or two), so a periodic job counts them every
REFRESH_SECONDS into Redis (shared by every web process), and the home reads them from there; only when nothing is
there (no worker has run yet, or Redis was emptied) does a page load count them itself, and keep them for the rest.
A small installation's figures are counted again on a page load as soon as someone joined or left (the newest
subscriber and consent record, two index look-ups, say so): there counting costs little, and a newcomer who just
added three subscribers sees three, not one.
"""

from __future__ import annotations

import logging
import pickle
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from flask import current_app, render_template
from markupsafe import Markup
from redis.exceptions import RedisError
from sqlalchemy import func, select

from core.db import db, hour_of, parse_hour, utcnow
from core.queues import redis
from lists.models import ConsentRecord, ListStatus, MailingList, Subscriber, Subscription, SubscriptionStatus

log = logging.getLogger(__name__)
DAYS = 30  # the chart's span
REFRESH_SECONDS = 60  # how old the panel's figures may be
KEEP_SECONDS = 5 * REFRESH_SECONDS  # with no worker counting them again, a page load does after this
CACHE_KEY = "kairan:home:audience:2:"  # the number changes when Figures does, so an old entry is never read
EXACT_BELOW = 10_000  # subscribers below which a page load counts again whenever someone joined or left
LISTS_SHOWN = 10  # the largest lists; the Lists page has them all
CHART_WIDTH, CHART_HEIGHT = 600, 120


@dataclass(frozen=True)
class Day:
    """One day of the chart, in the installation's time zone."""

    day: date
    joined: int
    left: int


def _per_hour(column: Any, *where: Any) -> list[tuple[datetime, int]]:
    hour = hour_of(column).label("hour")
    rows = db.session.execute(select(hour, func.count()).where(*where).group_by(hour))
    return [(parse_hour(at), number) for at, number in rows]


def days(now: datetime | None = None) -> list[Day]:
    """Joined and left per local day over the last DAYS days, today included (empty days too)."""
    zone = ZoneInfo(current_app.config["KAIRAN"].timezone)
    today = (now or utcnow()).astimezone(zone).date()
    first = today - timedelta(days=DAYS - 1)
    since = datetime.combine(first, datetime.min.time(), zone)
    counts: dict[tuple[str, date], int] = defaultdict(int)
    for kind, rows in (("joined", _per_hour(Subscriber.created_at, Subscriber.created_at >= since)),
                       ("left", _per_hour(ConsentRecord.created_at, ConsentRecord.status ==
                                          SubscriptionStatus.UNSUBSCRIBED, ConsentRecord.created_at >= since))):
        for hour, number in rows:
            counts[kind, hour.astimezone(zone).date()] += number
    return [Day(day, counts["joined", day], counts["left", day])
            for day in (first + timedelta(days=n) for n in range(DAYS))]


def chart(series: list[Day]) -> dict[str, Any]:
    """The chart's geometry: a bar pair per day, joined up and left down from a middle line (server-drawn SVG)."""
    top = max([1, *(d.joined for d in series), *(d.left for d in series)])
    middle = CHART_HEIGHT / 2
    step = CHART_WIDTH / len(series)
    bars = []
    for n, d in enumerate(series):
        up, down = d.joined / top * (middle - 4), d.left / top * (middle - 4)
        bars.append({"x": round(n * step + 1, 1), "width": round(max(step - 2, 1), 1), "day": d,
                     "up": round(up, 1), "down": round(down, 1), "middle": middle})
    return {"bars": bars, "width": CHART_WIDTH, "height": CHART_HEIGHT, "top": top, "middle": middle}


def list_sizes() -> list[tuple[MailingList, int]]:
    """The largest active lists with their subscriptions that are not unsubscribed, largest first."""
    size = func.count().label("size")
    counted = (select(Subscription.list_id, size).where(Subscription.status != SubscriptionStatus.UNSUBSCRIBED)
               .group_by(Subscription.list_id).subquery())
    rows = db.session.execute(
        select(MailingList, func.coalesce(counted.c.size, 0))
        .outerjoin(counted, counted.c.list_id == MailingList.id)
        .where(MailingList.status == ListStatus.ACTIVE)
        .order_by(func.coalesce(counted.c.size, 0).desc(), MailingList.id).limit(LISTS_SHOWN))
    return [(mailing_list, int(number)) for mailing_list, number in rows]


@dataclass(frozen=True)
class Figures:
    """What the panel shows, as kept in the cache."""

    total: int
    days: list[Day]
    sizes: list[tuple[int, str, int]]  # list id, name, size
    marks: tuple[int, int] = (0, 0)  # the newest subscriber's and consent record's ids when counted


def _marks() -> tuple[int, int]:
    newest = db.session.execute(select(select(func.max(Subscriber.id)).scalar_subquery(),
                                       select(func.max(ConsentRecord.id)).scalar_subquery())).one()
    return int(newest[0] or 0), int(newest[1] or 0)


def _key() -> str:
    return f"{CACHE_KEY}{current_app.config['KAIRAN'].timezone}"  # days are the time zone's


def refresh(keep: int = KEEP_SECONDS) -> Figures:
    """Count the panel's figures from the database and keep them for the home (the periodic job, every
    REFRESH_SECONDS; a page load that found none keeps its own only that long); none kept while there is no
    subscriber."""
    marks = _marks()
    computed = Figures(db.session.scalar(select(func.count()).select_from(Subscriber)) or 0, days(),
                       [(m.id, m.name, size) for m, size in list_sizes()], marks)
    if computed.total == 0:
        return computed
    try:
        redis().set(_key(), pickle.dumps(computed), ex=keep)
    except RedisError as error:
        log.warning("home figures not kept: %s", error)
    return computed


def figures() -> Figures:
    """The panel's figures as last counted, or counted now when none are kept."""
    try:
        raw = redis().get(_key())
    except RedisError as error:
        log.warning("home figures counted without the cache: %s", error)
        raw = None
    if raw is None:
        return refresh(REFRESH_SECONDS)
    found: Figures = pickle.loads(cast(bytes, raw))  # noqa: S301 - written by Kairan itself, above
    if found.total < EXACT_BELOW and found.marks != _marks():
        return refresh(REFRESH_SECONDS)
    return found


def panel() -> Markup | str:
    """The dashboard's audience panel; with no subscriber yet, how to add them."""
    found = figures()
    if found.total == 0:
        return Markup(render_template("lists/_growth_empty.html"))  # noqa: S704  (our template's output)
    return Markup(render_template(  # noqa: S704  (our template's output)
        "lists/_growth.html", chart=chart(found.days), series=found.days, sizes=found.sizes, total=found.total,
        joined=sum(d.joined for d in found.days), left=sum(d.left for d in found.days)))
