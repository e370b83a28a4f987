"""When people open: the open-time heatmap, its best slot, and send-time optimisation (each reader's own hour).

The heatmap counts human opens (people's, never machines': tracking/classify.py) by weekday and hour in
KAIRAN_TIMEZONE. It reads the hourly rollup the flusher keeps (``CampaignHourly.opens``: people's opens per
campaign and UTC hour), so it costs a few hundred rows whatever the number of events: one campaign's, or every
campaign's opens of the last ``RECENT_DAYS``. Its best slot is the weekday and hour with the most human opens
(ties: the one that comes first from now); scheduling at it takes the next time that weekday and hour begins.

Send-time optimisation runs once, as a campaign fixes its audience (mailer/queries.py ``materialise``, given
``send_times`` through mailer/starting.py's registry): each delivery is inserted with its ``retry_at`` ("not sent
before then", which the batch job and the reconciler already honour) at the heatmap's hour; then one UPDATE moves
those whose readers have their own hour to its next start within the 24 hours from the start. A reader's hour is
the hour of the day of most of their own human opens and clicks of the last ``HISTORY_DAYS``, inside the sending
window, when they have at least ``OWN_HOUR_MINIMUM`` there; otherwise the window's busiest hour of the recent
heatmap (no data at all: the start). The audience's INSERT … SELECT and that UPDATE are the whole cost, whatever
the audience's size. Hours of the day are read in UTC by the database and moved by the whole hours of the
timezone's offset at the start (with summer time, opens of the other season count an hour apart; a timezone half an
hour off counts an open in the hour before).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import case, func, literal, select, text, update
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from core.db import db, utcnow
from mailer.models import Campaign, CampaignKind, CampaignStatus, Delivery, DeliveryStatus
from mailer.queries import SendTimes
from mailer.sending import change_status
from mailer.throttle import window_hours
from tracking.errors import NoBestSlotError, NotADraftError
from tracking.models import CampaignHourly, TrackingEvent

RECENT_DAYS = 90  # the heatmap across campaigns: people's opens of the last 90 days
HISTORY_DAYS = 180  # a reader's own opens and clicks looked at for their hour
OWN_HOUR_MINIMUM = 5  # fewer opens and clicks than this say too little: the heatmap's hour instead
WEEKDAYS = 7
HOURS = 24


@dataclass(frozen=True)
class Heatmap:
    """Human opens by weekday (0 Monday … 6 Sunday) and hour of the day, in the installation's timezone."""

    cells: list[list[int]]  # [weekday][hour]
    timezone: str
    best: tuple[int, int] | None  # (weekday, hour) with the most opens; None before any
    best_at: datetime | None  # when that weekday and hour next begins (UTC)

    @property
    def total(self) -> int:
        """Every human open the heatmap counts."""
        return sum(map(sum, self.cells))

    @property
    def busiest(self) -> int:
        """The most opens of one cell (for the shading)."""
        return max(map(max, self.cells))

    def by_hour(self) -> list[int]:
        """Opens per hour of the day, every weekday together."""
        return [sum(row[hour] for row in self.cells) for hour in range(HOURS)]

    def as_dict(self) -> dict[str, Any]:
        """The heatmap as the API gives it."""
        best = ({"weekday": self.best[0], "hour": self.best[1], "opens": self.cells[self.best[0]][self.best[1]],
                 "next_at": self.best_at.isoformat() if self.best_at else None} if self.best else None)
        return {"timezone": self.timezone, "total": self.total, "cells": self.cells, "best": best}


def heatmap(campaign_id: int | None = None) -> Heatmap:
    """One campaign's heatmap, or (None) every campaign's of the last RECENT_DAYS."""
    zone = ZoneInfo(current_app.config["KAIRAN"].timezone)
    stmt = select(CampaignHourly.hour, func.sum(CampaignHourly.opens)).where(CampaignHourly.opens > 0)
    if campaign_id is None:
        stmt = stmt.where(CampaignHourly.hour >= utcnow() - timedelta(days=RECENT_DAYS))
    else:
        stmt = stmt.where(CampaignHourly.campaign_id == campaign_id)
    cells = [[0] * HOURS for _ in range(WEEKDAYS)]
    for hour, opens in db.session.execute(stmt.group_by(CampaignHourly.hour)):
        local = hour.astimezone(zone)
        cells[local.weekday()][local.hour] += int(opens)
    now = utcnow()
    slots = [(cells[w][h], -(next_start(w, h, now, zone) - now).total_seconds(), w, h)
             for w in range(WEEKDAYS) for h in range(HOURS) if cells[w][h]]
    best = max(slots)[2:] if slots else None
    return Heatmap(cells, zone.key, best, next_start(*best, now, zone) if best else None)


def schedule_at_best(campaign: Campaign, found: Heatmap) -> datetime:
    """Schedule a draft campaign at the next start of the heatmap's best slot; return that time."""
    if campaign.status != CampaignStatus.DRAFT or campaign.kind != CampaignKind.REGULAR:
        raise NotADraftError(_("Only a draft campaign can be scheduled at the best slot: “%(name)s” is %(status)s.",
                               name=campaign.name, status=campaign.status.value), field="campaign_id")
    if found.best_at is None:
        raise NoBestSlotError(_("No opens by people yet: there is no best slot to schedule at."))
    campaign.send_at = found.best_at
    change_status(campaign, CampaignStatus.SCHEDULED.value)
    return found.best_at


def next_start(weekday: int, hour: int, after: datetime, zone: ZoneInfo) -> datetime:
    """When this weekday's hour next begins after ``after`` (in UTC)."""
    local = after.astimezone(zone)
    day = local.date() + timedelta(days=(weekday - local.weekday()) % WEEKDAYS)
    start = datetime(day.year, day.month, day.day, hour, tzinfo=zone)
    if start <= local:
        start = datetime.combine(day + timedelta(days=WEEKDAYS), start.timetz())
    return start.astimezone(UTC)


def day_slots(start: datetime, zone: ZoneInfo) -> dict[int, datetime]:
    """For each local hour of the day, when it next begins in the 24 hours from ``start`` (its own hour: the start)."""
    local = start.astimezone(zone)
    slots: dict[int, datetime] = {}
    for ahead in range(HOURS):
        at = (local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=ahead)).astimezone(zone)
        slots.setdefault(at.hour, start if ahead == 0 else at.astimezone(UTC))
    for hour in range(HOURS):  # a summer-time jump skips an hour: it is sent with the next one
        slots.setdefault(hour, slots[(hour + 1) % HOURS])
    return slots


def send_times(campaign: Campaign) -> SendTimes:
    """A send-time-optimised campaign's times as materialising sets them (mailer/queries.py): everyone the
    heatmap's busiest hour, then the readers with an hour of their own its next start."""
    zone = ZoneInfo(current_app.config["KAIRAN"].timezone)
    if db.engine.dialect.name == "postgresql":
        # The default 4 MB makes the grouping of millions of opens spill to disk; this transaction only, as
        # materialising's own.
        db.session.execute(text("SET LOCAL work_mem TO '64MB'"))
    start = utcnow()
    allowed = window_hours(campaign.quiet_start, campaign.quiet_end)
    slots = day_slots(start, zone)
    counts = heatmap().by_hour()
    fallback = max(allowed, key=lambda hour: (counts[hour], -((hour - start.astimezone(zone).hour) % HOURS)))
    others = _at(slots[fallback], start) if counts[fallback] or len(allowed) < HOURS else None
    # The database reads UTC hours ("07"), moved by the offset's whole hours: cheaper than any time arithmetic per
    # event (a timezone half an hour off counts an open in the hour before).
    shift = _offset_minutes(start, zone) // 60
    utc_hour = {hour: f"{(hour - shift) % HOURS:02d}" for hour in allowed}
    stamp = Delivery.__table__.c.retry_at.type  # stored as every time is (UTC), not as the driver would

    def own(campaign_id: int) -> None:
        if db.engine.dialect.name == "postgresql":
            # The planner must know the audience's rows just inserted (ANALYZE counts its own transaction's):
            # taking them for none, it loops over them once per reader with an hour.
            db.session.execute(text("ANALYZE deliveries"))
        best = own_hours(campaign_id, list(utc_hour.values()), start - timedelta(days=HISTORY_DAYS))
        slot = case({utc_hour[hour]: literal(_at(slots[hour], start), stamp) for hour in allowed},
                    value=best.c.hour)
        # Queued ones only: an A/B test's rest is inserted beside its test phase, sent already.
        db.session.execute(update(Delivery).where(Delivery.campaign_id == campaign_id,
                                                  Delivery.status == DeliveryStatus.QUEUED,
                                                  Delivery.subscriber_id == best.c.subscriber_id)
                           .values(retry_at=slot).execution_options(synchronize_session=False))
    return SendTimes(others, own)


def own_hours(campaign_id: int, allowed: list[str], since: datetime) -> Any:
    """The subquery of (subscriber_id, hour): each of the campaign's readers with at least OWN_HOUR_MINIMUM human
    opens and clicks since ``since`` in the allowed UTC hours ("07"), and the hour of most of them (ties: the
    earliest). Their events are read from the index (delivery_id, kind, human, at) alone."""
    earlier = aliased(Delivery)  # the deliveries the events were of
    hour = _utc_hour(TrackingEvent.at)
    readers = select(Delivery.subscriber_id).where(Delivery.campaign_id == campaign_id)
    hits = (select(earlier.subscriber_id, hour.label("hour"), func.count().label("opens"))
            .join(earlier, earlier.id == TrackingEvent.delivery_id)
            .where(TrackingEvent.human, TrackingEvent.at >= since, earlier.subscriber_id.in_(readers),
                   hour.in_(allowed))
            .group_by(earlier.subscriber_id, hour).subquery())
    ranked = select(hits.c.subscriber_id, hits.c.hour,
                    func.sum(hits.c.opens).over(partition_by=hits.c.subscriber_id).label("total"),
                    func.row_number().over(partition_by=hits.c.subscriber_id,
                                           order_by=(hits.c.opens.desc(), hits.c.hour)).label("rank")).subquery()
    return (select(ranked.c.subscriber_id, ranked.c.hour)
            .where(ranked.c.rank == 1, ranked.c.total >= OWN_HOUR_MINIMUM).subquery())


def _utc_hour(at: Any) -> ColumnElement[str]:
    """The UTC hour of the day of a timestamp column as two digits ("07"), in the running database's SQL."""
    if db.engine.dialect.name == "sqlite":  # stored as 'YYYY-MM-DD HH:MM:SS…' in UTC (core/db.py)
        return func.substr(at, 12, 2)
    return func.to_char(func.timezone("UTC", at), "HH24")


def _offset_minutes(at: datetime, zone: ZoneInfo) -> int:
    offset = at.astimezone(zone).utcoffset()
    return int(offset.total_seconds() // 60) if offset else 0


def _at(slot: datetime, start: datetime) -> datetime | None:
    """A delivery's retry_at for a slot: none (due now) at the start's own hour."""
    return None if slot <= start else slot
