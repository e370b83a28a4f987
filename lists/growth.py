"""The home's audience panel: subscribers over time (who joined, who left, per day) and each list's size.

Both read indexes only: joined is grouped by UTC hour over ``subscribers.created_at``, left by hour over the
unsubscribe consent records (``ix_consent_records_status_created``), and the hours are added up into local days
here (at most 24 × DAYS rows); list sizes are one grouped count of the subscriptions index.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, render_template
from markupsafe import Markup
from sqlalchemy import func, select

from core.db import db, hour_of, parse_hour, utcnow
from lists.models import ConsentRecord, ListStatus, MailingList, Subscriber, Subscription, SubscriptionStatus

DAYS = 30  # the chart's span
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


def panel() -> Markup | str:
    """The dashboard's audience panel."""
    series = days()
    sizes = list_sizes()
    total = db.session.scalar(select(func.count()).select_from(Subscriber)) or 0
    if not sizes and total == 0:
        return ""
    return Markup(render_template(  # noqa: S704  (our template's output)
        "lists/_growth.html", chart=chart(series), series=series, sizes=sizes, total=total,
        joined=sum(d.joined for d in series), left=sum(d.left for d in series)))
