"""The one clock every "now" in Kairan reads, and the seam that lets tests and benchmarks move it.

Waits of days (an automation's "30 days after the purchase"), quiet hours and retries all ask
``now()``. With KAIRAN_MOVABLE_CLOCK on (tests and benchmarks only, never production), ``now()``
adds an offset kept in the installation's Redis, so the web app, every worker process and the test
itself see the same moved time: ``move(timedelta(days=30))`` and the next wake-up finds the
month gone, with no one sleeping through it. Off (the default), ``now()`` is the system clock and
costs nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from redis import Redis

OFFSET_KEY = "kairan:clock:offset"  # seconds added to the system clock, a float



class _Source:
    """Where this process reads the offset: nowhere (the system clock), or the shared Redis key."""

    offset: Callable[[], float] | None = None


def now() -> datetime:
    """Return the current time, timezone-aware in UTC (moved, when the movable clock is on)."""
    return datetime.now(UTC) + offset()


def offset() -> timedelta:
    """How far the clock is moved (nothing, unless the movable clock is on): for times read off another clock, such
    as Redis's stream ids."""
    return timedelta() if _Source.offset is None else timedelta(seconds=_Source.offset())


def use_movable(redis_url: str) -> None:
    """Read the shared offset from this Redis from now on (KAIRAN_MOVABLE_CLOCK)."""
    connection = Redis.from_url(redis_url)

    def offset() -> float:
        value = connection.get(OFFSET_KEY)
        return float(value) if value is not None else 0.0

    _Source.offset = offset


def use_system() -> None:
    """Go back to the system clock alone."""
    _Source.offset = None


def move(redis_url: str, by: timedelta) -> datetime:
    """Move every movable clock of the installation on by ``by``; return the new time."""
    Redis.from_url(redis_url).incrbyfloat(OFFSET_KEY, by.total_seconds())
    return now()
