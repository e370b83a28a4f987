"""When a wait ends, and when quiet hours hold a message back: local times in KAIRAN_TIMEZONE, stored in UTC.

The two Japanese timing modes are waits too: 登録からN日後 HH:MM (``since_entry``) counts days from the day the run
started, 前のメールからN日後 HH:MM (``since_last_mail``) from the day of its last message. Every wait is worked out
from when the run reached the step, never from when a worker looked, so a late wake-up changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from automations.graph import duration_minutes
from lists.addresses import CARRIER_DOMAINS
from mailer.throttle import quiet_until, receiving_domain, window_as_quiet


class NoDateError(Exception):
    """A wait for a date attribute that the subscriber does not have (or that is no date)."""


def _at(day: date, at: str, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.fromisoformat(at), tzinfo=zone)


def wait_ends(step: dict[str, Any], arrived: datetime, *, entered: datetime, last_mail: datetime | None,
              attributes: dict[str, Any], timezone: str) -> datetime:
    """When a wait step that the run reached at ``arrived`` lets it go on."""
    zone = ZoneInfo(timezone)
    mode, at = step.get("mode", "duration"), step.get("at")
    if mode == "duration":
        ends = arrived + timedelta(minutes=duration_minutes(step))
        if at is None:
            return ends
        local = ends.astimezone(zone)  # "3 days later, at 10:00": the first 10:00 after the three days
        fixed = _at(local.date(), at, zone)
        return fixed if fixed >= local else fixed + timedelta(days=1)
    at = at or "09:00"
    if mode in ("since_entry", "since_last_mail"):
        since = entered if mode == "since_entry" else (last_mail or entered)
        return _at(since.astimezone(zone).date() + timedelta(days=int(step.get("days", 0))), at, zone)
    if mode == "weekday":
        local = arrived.astimezone(zone)
        ahead = (int(step["weekday"]) - local.weekday()) % 7
        ends = _at(local.date() + timedelta(days=ahead), at, zone)
        return ends if ends >= local else ends + timedelta(days=7)
    # mode == "attribute": the subscriber's date (birthday, contract_end) moved by offset_days
    day = attribute_date(attributes, str(step["attribute"]))
    return _at(day + timedelta(days=int(step.get("offset_days", 0))), at, zone)


def attribute_date(attributes: dict[str, Any], name: str) -> date:
    """A date attribute's day (``2026-05-01``, or a time whose date part counts); NoDateError when there is none."""
    value = attributes.get(name)
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise NoDateError(name) from None


def quiet_ends(quiet: dict[str, Any] | None, email: str, now: datetime, timezone: str) -> datetime | None:
    """When quiet hours end if a message to ``email`` may not go now (None: it may)."""
    if not quiet or (quiet.get("carriers_only", True) and receiving_domain(email) not in CARRIER_DOMAINS):
        return None
    return quiet_until(now, quiet.get("start"), quiet.get("end"), timezone)


def window_opens(window: dict[str, Any] | None, now: datetime, timezone: str) -> datetime | None:
    """When a send step's sending window next opens if ``now`` is outside it (None: inside, or no window)."""
    if not window:
        return None
    return quiet_until(now, *window_as_quiet(window.get("start"), window.get("end")), timezone)
