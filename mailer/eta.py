"""How long a running campaign has left, and which sending limit sets that time.

The rate seen so far says little once the rest must pass a slower limit: most recipients go out at
once, and the last ones to a paced domain (KAIRAN_DOMAIN_LIMITS, mailer/throttle.py) trickle out at
that domain's rate. So the estimate is never shorter than the slowest limit the unsent rest must
pass through: each paced domain's unsent count at its rate, the campaign's own sending speed and
the installation's KAIRAN_SEND_RATE. When one of those, not the rate seen, sets the time, it says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select

from core.db import db
from mailer.models import Campaign, Delivery, DeliveryStatus

UNSENT = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)


@dataclass(frozen=True)
class Estimate:
    """Seconds left (None: not known yet), and why it is that long when a limit sets it ("" otherwise)."""

    seconds: int | None
    paced_by: str = ""


def unsent_by_domain(campaign_id: int, domains: list[str]) -> dict[str, int]:
    """Return how many of a campaign's deliveries to each of these domains are not sent yet."""
    if not domains:
        return {}
    rows = db.session.execute(select(Delivery.domain, func.count()).where(
        Delivery.campaign_id == campaign_id, Delivery.status.in_(UNSENT), Delivery.domain.in_(domains))
        .group_by(Delivery.domain))
    return {str(domain): int(count) for domain, count in rows}


def estimate(campaign: Campaign, remaining: int, rate_seen: float) -> Estimate:
    """Return the time left of a running campaign with ``remaining`` unsent at ``rate_seen`` a second so far."""
    settings = current_app.config["KAIRAN"].sending
    floors: list[tuple[float, str]] = []
    limits = settings.domain_limits
    for domain, count in unsent_by_domain(campaign.id, list(limits)).items():
        per_minute = limits[domain]
        floors.append((count * 60 / per_minute, ngettext(
            "Paced: %(num)d message to %(domain)s goes at %(limit)d a minute at most.",
            "Paced: %(num)d messages to %(domain)s go at %(limit)d a minute at most.",
            count, domain=domain, limit=per_minute)))
    if campaign.rate_per_minute:
        floors.append((remaining * 60 / campaign.rate_per_minute, _(
            "Paced by this campaign's sending speed: %(limit)d messages a minute.", limit=campaign.rate_per_minute)))
    if settings.rate_per_second:
        floors.append((remaining / settings.rate_per_second, _(
            "Paced by the installation's sending rate (KAIRAN_SEND_RATE): %(limit)d messages a second.",
            limit=settings.rate_per_second)))
    seen = remaining / rate_seen if rate_seen else None
    slowest = max(floors, default=None)
    if slowest is None or (seen is not None and seen >= slowest[0]):
        return Estimate(round(seen) if seen is not None else None)
    if seen is None and not remaining:
        return Estimate(None)
    return Estimate(round(slowest[0]), slowest[1])
