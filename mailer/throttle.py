"""Sending limits shared by every worker on every machine: token buckets in Redis, and quiet hours.

A sending window ("only between 09:00 and 20:00") is quiet hours seen the other way round (20:00 to
09:00): campaigns and automations' send steps store and check it with the same ``quiet_until``.

One Lua script takes a token from every bucket a message passes through (the global rate, its
relay, its campaign, its receiving domain) or from none of them, atomically, and otherwise says
how long until all of them have one. Redis's own clock refills the buckets, so workers on
machines whose clocks disagree still share one rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from redis import Redis

# KEYS: the buckets. ARGV: per bucket, its rate (tokens a second) and its burst (capacity).
# Returns 0 when a token was taken from each, else the milliseconds until every bucket has one,
# the (1-based) index of the bucket that waits longest and Redis's time then (milliseconds since the epoch).
_TAKE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local levels = {}
local wait, slowest = 0, 0
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', key, 'level', 'at')
  local level = tonumber(state[1]) or burst
  local at = tonumber(state[2]) or now_ms
  level = math.min(burst, level + (now_ms - at) * rate / 1000)
  levels[i] = level
  if level < 1 then
    local needed = math.ceil((1 - level) * 1000 / rate)
    if needed > wait then wait, slowest = needed, i end
  end
end
if wait > 0 then return {wait, slowest, now_ms} end
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  redis.call('HSET', key, 'level', levels[i] - 1, 'at', now_ms)
  redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)
end
return {0, 0}
"""


@dataclass(frozen=True)
class Bucket:
    """A named rate: ``per_second`` tokens a second, up to ``burst`` saved up."""

    name: str
    per_second: float
    burst: float

    @classmethod
    def per_minute(cls, name: str, rate: int) -> Bucket:
        """A bucket of ``rate`` a minute that lets at most a tenth of a minute's worth through at once."""
        return cls(name, rate / 60, max(1.0, rate / 10))

    @classmethod
    def per_second_rate(cls, name: str, rate: int) -> Bucket:
        """A bucket of ``rate`` a second with a second's worth of burst."""
        return cls(name, float(rate), float(max(1, rate)))


@dataclass(frozen=True)
class Wait:
    """No token now: how long until there is one, when that is, and which bucket holds things up."""

    seconds: float
    bucket: Bucket
    # On Redis's clock, which every worker shares: a time computed from this process's clock after the
    # answer came would be late by however long this thread waited for the CPU in between.
    until: datetime


class Throttle:
    """Takes tokens from the buckets in Redis (one round trip a message)."""

    def __init__(self, connection: Redis) -> None:
        self._script = connection.register_script(_TAKE)

    def take(self, buckets: Sequence[Bucket]) -> Wait | None:
        """Take one token from every bucket, or none and say how long to wait."""
        if not buckets:
            return None
        args: list[float] = []
        for bucket in buckets:
            args += [bucket.per_second, bucket.burst]
        wait_ms, slowest, *now_ms = self._script(keys=[f"kairan:rate:{b.name}" for b in buckets], args=args)
        if not wait_ms:
            return None
        until = datetime.fromtimestamp((int(now_ms[0]) + int(wait_ms)) / 1000, UTC)
        return Wait(int(wait_ms) / 1000, buckets[int(slowest) - 1], until)


def receiving_domain(address: str) -> str:
    """Return the case-folded domain of an address, which its per-domain limit is looked up by."""
    return address.rpartition("@")[2].lower()


def quiet_until(now: datetime, start: str | None, end: str | None, timezone: str) -> datetime | None:
    """Return when a campaign's quiet hours end if ``now`` falls inside them, else None.

    ``start`` and ``end`` are "HH:MM" in the installation's timezone; a window such as 22:00–08:00
    runs past midnight.
    """
    if not start or not end or start == end:
        return None
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    begin, finish = time.fromisoformat(start), time.fromisoformat(end)
    clock = local.time()
    inside = begin <= clock < finish if begin < finish else clock >= begin or clock < finish
    if not inside:
        return None
    ends = datetime.combine(local.date(), finish, tzinfo=zone)
    if ends <= local:
        ends += timedelta(days=1)
    return ends


def window_as_quiet(start: str | None, end: str | None) -> tuple[str | None, str | None]:
    """The quiet hours a sending window from ``start`` to ``end`` stands for (and back: the same swap)."""
    return end, start


def window_hours(quiet_start: str | None, quiet_end: str | None) -> list[int]:
    """The local hours of the day (0–23) that lie wholly outside these quiet hours: every hour when there are none."""
    if not quiet_start or not quiet_end or quiet_start == quiet_end:
        return list(range(24))
    begin, finish = _minutes(quiet_start), _minutes(quiet_end)

    def quiet(minute: int) -> bool:
        return begin <= minute < finish if begin < finish else minute >= begin or minute < finish
    return [h for h in range(24) if not any(quiet(m) for m in range(h * 60, h * 60 + 60))]


def _minutes(hhmm: str) -> int:
    clock = time.fromisoformat(hhmm)
    return clock.hour * 60 + clock.minute
