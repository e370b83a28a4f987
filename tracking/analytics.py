"""listmonk's campaign analytics (GET /api/campaigns/analytics/{views,clicks,bounces,links}) on Kairan's figures.

Counts are per day in KAIRAN_TIMEZONE: the database groups by UTC hour (tracking/metric_queries.py),
and the hours are added up into local days here (a few rows per hour, never events). Views and
clicks are people's events; machines' (Apple's prefetch, scanners) are left out, as from every rate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _

from core.errors import ValidationError
from core.inputs import ID_MAX, whole_number
from tracking import metric_queries as q
from tracking.models import EventKind

KINDS = ("views", "clicks", "bounces", "links")


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["KAIRAN"].timezone)


def parse_moment(value: str, name: str, *, end: bool = False) -> datetime:
    """Read a ``from``/``to`` parameter: a date (a whole day in KAIRAN_TIMEZONE; ``to`` includes it) or a time."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1) if end else day, time(), _zone())
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(_("%(name)s must be a date (2026-05-01) or a time with its offset.", name=name)) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=_zone())


def campaign_ids(values: Sequence[str]) -> list[int]:
    """Read listmonk's ``id`` parameter: repeated, or comma-separated."""
    ids = [part.strip() for value in values for part in value.split(",") if part.strip()]
    if not ids:
        raise ValidationError(_("id must name one or more campaigns by number."))
    return [whole_number(part, "id", maximum=ID_MAX) for part in ids]


def _by_day(rows: Sequence[tuple[int, datetime, int]]) -> list[dict[str, Any]]:
    zone = _zone()
    days: dict[tuple[datetime, int], int] = defaultdict(int)
    for campaign_id, hour, number in rows:
        local = hour.astimezone(zone)
        days[local.replace(hour=0, minute=0, second=0, microsecond=0), campaign_id] += number
    return [{"campaign_id": campaign_id, "count": number, "timestamp": day.isoformat()}
            for (day, campaign_id), number in sorted(days.items())]


def analytics(kind: str, ids: Sequence[int], since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Return listmonk's analytics rows of one kind for these campaigns within [since, until)."""
    if kind not in KINDS:
        raise ValidationError(_("The analytics type must be one of: %(kinds)s.", kinds=", ".join(KINDS)))
    if until <= since:
        raise ValidationError(_("from must be before to."))
    if kind == "links":
        return [{"url": url, "count": number} for url, number in q.link_totals(ids, since, until)]
    if kind == "bounces":
        return _by_day(q.hourly_bounces(ids, since, until))
    wanted = EventKind.OPEN if kind == "views" else EventKind.CLICK
    return _by_day([(campaign_id, hour, number) for campaign_id, hour, _kind, human, number
                    in q.hourly_events(ids, (wanted,), since, until) if human])
