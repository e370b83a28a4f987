"""mailer's settings: how campaigns go out (KAIRAN_SEND_*, retries, pauses, domain limits).

Read and checked at start with core's (core/settings.py); code reads them as ``SENDING.current()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.settings import Settings, SettingsError, SettingsGroup, read_items, read_whole_number

# Conservative per-minute limits for receiving domains that throttle bulk senders. Japanese carriers
# defer or drop bursts from senders without a history; the big providers take far more.
DEFAULT_DOMAIN_LIMITS = {
    "docomo.ne.jp": 120, "ezweb.ne.jp": 120, "au.com": 120, "softbank.ne.jp": 120, "i.softbank.jp": 120,
    "disney.ne.jp": 60, "ymobile.ne.jp": 120, "gmail.com": 3000, "googlemail.com": 3000,
    "outlook.com": 1200, "hotmail.com": 1200, "outlook.jp": 1200, "hotmail.co.jp": 1200, "yahoo.co.jp": 1200,
}


@dataclass(frozen=True)
class SendingSettings:
    """How campaigns go out: pacing, connections, leases, retries and when a campaign pauses itself."""

    rate_per_second: int | None  # across every worker on every machine; unset: only the relays' own limits
    connections: int  # SMTP connections per worker process, so relay latency does not cap throughput
    batch_size: int  # deliveries per send job: its lease stays short, and every worker gets work
    lease_seconds: int  # a dead worker's claimed rows are sent again after this
    retry_base_seconds: int  # the first back-off after a 4xx; doubled each time, with jitter
    retry_attempts: int  # then the delivery fails
    retry_hours: int  # or when this long has passed since its first failure
    pause_failures: int  # a campaign pauses itself at this many failures …
    pause_failure_percent: int  # … when they are also at least this share of what was tried
    reconcile_seconds: int  # how often a worker re-queues what the database says is unsent
    relay_take_out_seconds: float  # a relay that keeps failing is left alone this long
    domain_limits: dict[str, int]  # receiving domain -> messages per minute (KAIRAN_DOMAIN_LIMITS adds or overrides)


def _domain_limits(env: Mapping[str, str]) -> dict[str, int]:
    limits = dict(DEFAULT_DOMAIN_LIMITS)
    for item in read_items(env, "KAIRAN_DOMAIN_LIMITS"):
        domain, _equals, rate = item.partition("=")
        if not domain.strip() or not rate.strip().isdigit() or int(rate) < 1:
            raise SettingsError(f"KAIRAN_DOMAIN_LIMITS needs domain=messages-per-minute pairs such as "
                                f"'docomo.ne.jp=60,gmail.com=3000', not {item!r}.")
        limits[domain.strip().lower()] = int(rate)
    return limits


def read_sending(env: Mapping[str, str], _core: Settings) -> SendingSettings:
    """Read the sending settings."""
    rate = env.get("KAIRAN_SEND_RATE")
    percent = read_whole_number(env, "KAIRAN_PAUSE_FAILURE_PERCENT", 10)
    if percent > 100:
        raise SettingsError(f"KAIRAN_PAUSE_FAILURE_PERCENT must be from 1 to 100, not {percent}.")
    return SendingSettings(
        rate_per_second=read_whole_number(env, "KAIRAN_SEND_RATE", 1) if rate else None,
        connections=read_whole_number(env, "KAIRAN_SEND_CONNECTIONS", 8),
        batch_size=read_whole_number(env, "KAIRAN_SEND_BATCH_SIZE", 500),
        lease_seconds=read_whole_number(env, "KAIRAN_SEND_LEASE_SECONDS", 15),
        retry_base_seconds=read_whole_number(env, "KAIRAN_RETRY_BASE_SECONDS", 60),
        retry_attempts=read_whole_number(env, "KAIRAN_RETRY_ATTEMPTS", 6),
        retry_hours=read_whole_number(env, "KAIRAN_RETRY_HOURS", 24),
        pause_failures=read_whole_number(env, "KAIRAN_PAUSE_FAILURES", 50),
        pause_failure_percent=percent,
        reconcile_seconds=read_whole_number(env, "KAIRAN_RECONCILE_SECONDS", 30),
        relay_take_out_seconds=float(read_whole_number(env, "KAIRAN_RELAY_TAKE_OUT_SECONDS", 60)),
        domain_limits=_domain_limits(env),
    )


SENDING = SettingsGroup("sending", read_sending)
