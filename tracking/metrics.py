"""Campaign metrics: docs/architecture.md's definitions, computed in one place for the UI, the API and the exports.

- recipients: the campaign's deliveries; sent: accepted by a relay; failed: refused at SMTP time or
  given up after retries; pending: not sent yet; suppressed: dropped after the audience was fixed.
- bounced: sent deliveries a bounce arrived for. hard_bounced has a hard bounce; soft_bounced only
  soft ones; a refusal because of the sender counts as soft here (it just never suppresses).
  Complaints are not bounces. delivered = sent − bounced; delivery_rate = delivered / (sent + failed).
- unique_opens: deliveries a person opened or clicked (a click implies an open: the flusher keeps
  ``first_open_at`` so). open_rate = unique_opens / delivered.
- machine_opens: deliveries whose only opens were machines' (Apple's prefetch, scanners): they may
  or may not have been read, so they stay out of every rate. machine_clicks likewise.
- unique_clicks: deliveries a person clicked. click_rate = unique_clicks / delivered;
  click_to_open = unique_clicks / unique_opens.
- unsubscribes: deliveries whose reader unsubscribed through that message's link or its
  List-Unsubscribe header; complaints: deliveries with a complaint (ARF, a provider's webhook).
  Both over delivered.
- conversions: conversion events (KAIRAN_CONVERSION_EVENTS) attributed to the campaign: to the message whose
  link their subscriber clicked last as a person within KAIRAN_ATTRIBUTION_DAYS, or named by a valid kairan_c
  (automations/conversions.py). converted: the deliveries with one. conversion_rate = converted / delivered.
- revenue: the conversions' amounts in the installation's currency (KAIRAN_CURRENCY; other currencies are shown
  apart, never converted); revenue_per_recipient = revenue / delivered.
- Every rate is None while its denominator is 0.

With individual tracking off (KAIRAN_TRACK_INDIVIDUALS=off) events name no delivery, so nobody can
be counted once: each such event counts as one (unique_opens += the people's open events,
unique_clicks += their click events, machine_* += machines' events), the figures are upper
bounds, and ``individual`` is False. Figures come from the rollups the flusher keeps (tracking/rollups.py),
deliveries counted by state (tracking/tallies.py) and small indexed queries (tracking/metric_queries.py),
none of which writes; they are kept briefly in Redis (tracking/metrics_cache.py says how fresh they are).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from core.db import db, utcnow
from mailer.campaigns import get_campaign
from mailer.models import Campaign, CampaignStatus
from mailer.overview import LISTED
from tracking import metric_queries as q
from tracking import tallies
from tracking.metrics_cache import cached
from tracking.revenue import major
from tracking.settings import CONVERSIONS

HOURLY = 48  # the timeline is hourly for this many hours after the send started, then daily
TOP_DOMAINS = 10
TOP_CLIENTS = 10
RECENT_BOUNCES = 20
OTHER = "other"  # the domains row that sums up the rest
COMPARED = 10


def rate(part: int, whole: int) -> float | None:
    """Return part / whole, or None when there is no whole to divide by."""
    return part / whole if whole else None


@dataclass(frozen=True)
class CampaignMetrics:
    """One campaign's headline figures, as docs/architecture.md defines them (this module's docstring)."""

    campaign_id: int
    recipients: int
    sent: int
    failed: int
    pending: int
    suppressed: int
    bounced: int
    hard_bounced: int
    soft_bounced: int
    delivered: int
    delivery_rate: float | None
    unique_opens: int
    machine_opens: int
    open_rate: float | None
    unique_clicks: int
    machine_clicks: int
    click_rate: float | None
    click_to_open: float | None
    unsubscribes: int
    unsubscribe_rate: float | None
    complaints: int
    complaint_rate: float | None
    conversions: int
    converted: int
    conversion_rate: float | None
    revenue: float  # in ``currency``'s units (yen; dollars with cents as decimals)
    revenue_per_recipient: float | None
    currency: str
    individual: bool  # False: events named no delivery, and opens and clicks are event counts (upper bounds)

    def as_dict(self) -> dict[str, Any]:
        """Return the figures as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class TimelineBucket:
    """Opens and clicks in one hour (the first 48 after the start) or one day (after that)."""

    start: datetime
    hours: int  # 1 or 24
    opens: int  # events by people
    machine_opens: int
    clicks: int
    machine_clicks: int


@dataclass(frozen=True)
class LinkStats:
    """One tracked link's clicks: by people, by how many people, and by machines."""

    url: str
    clicks: int
    unique_clicks: int
    machine_clicks: int


@dataclass(frozen=True)
class DomainStats:
    """One receiving domain's recipients and how their messages fared (``other`` sums the rest)."""

    domain: str
    recipients: int
    sent: int
    bounced: int
    opened: int  # deliveries opened by a person
    clicked: int


@dataclass(frozen=True)
class Share:
    """A mail client or device and the opens by people it made."""

    name: str
    opens: int


@dataclass(frozen=True)
class BounceRow:
    """One recent bounce or complaint, with what the receiver said."""

    email: str
    type: str
    sender_refused: bool
    status: str
    diagnostic: str
    source: str
    created_at: datetime


@dataclass(frozen=True)
class Money:
    """Revenue in one currency, in its units."""

    currency: str
    amount: float


@dataclass(frozen=True)
class NoRevenue:
    """Conversions whose amount added no revenue, for one reason (tracking/revenue.py Problem)."""

    problem: str
    conversions: int


@dataclass(frozen=True)
class CampaignReport:
    """Everything the report page shows about one campaign, each part from aggregate queries."""

    metrics: CampaignMetrics
    started_at: datetime | None
    computed_at: datetime
    timeline: tuple[TimelineBucket, ...] = ()
    links: tuple[LinkStats, ...] = ()
    domains: tuple[DomainStats, ...] = ()
    clients: tuple[Share, ...] = ()
    devices: tuple[Share, ...] = ()
    bounces: tuple[BounceRow, ...] = field(default=())
    revenue: tuple[Money, ...] = ()  # every currency's, the installation's first
    no_revenue: tuple[NoRevenue, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict (times in ISO 8601, UTC)."""
        def plain(value: Any) -> Any:
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, dict):
                return {key: plain(item) for key, item in value.items()}
            if isinstance(value, list | tuple):
                return [plain(item) for item in value]
            return value
        result: dict[str, Any] = plain(asdict(self))
        return result


def _running(campaign: Campaign) -> bool:
    return campaign.status == CampaignStatus.RUNNING


def metrics_of(campaign_ids: Sequence[int], deliveries: dict[int, dict[str, int]] | None = None,
               bounces: dict[int, dict[str, Any]] | None = None,
               conversions: dict[int, dict[str, Any]] | None = None) -> dict[int, CampaignMetrics]:
    """Compute the metrics of several campaigns with a fixed number of small queries (no cache).

    ``deliveries``, ``bounces``, ``conversions``: tallies.delivery_counts, q.bounce_counts and q.conversion_counts
    of these campaigns, when the caller has them already.
    """
    ids = list(campaign_ids)
    if not ids:
        return {}
    deliveries = tallies.delivery_counts(ids) if deliveries is None else deliveries
    bounces = q.bounce_counts(ids) if bounces is None else bounces
    totals = q.totals(ids)
    conversions = q.conversion_counts(ids) if conversions is None else conversions
    currency = CONVERSIONS.current().currency
    tracking_individuals = bool(current_app.config["KAIRAN"].tracking.individuals)
    result = {}
    for campaign_id in ids:
        d = deliveries.get(campaign_id) or {}
        b = bounces.get(campaign_id) or {}
        t, c = totals[campaign_id], conversions[campaign_id]
        revenue = major(c["revenue"].get(currency, 0), currency)
        sent, failed = d.get("sent", 0), d.get("failed", 0)
        bounced, hard = b.get("bounced", 0), b.get("hard", 0)
        delivered = sent - bounced
        opens = t["opened"] + t["anonymous_opens"]
        clicks = t["clicked"] + t["anonymous_clicks"]
        unsubscribes, complaints = d.get("unsubscribed", 0), b.get("complaints", 0)
        anonymous = t["anonymous_opens"] + t["anonymous_machine_opens"] + t["anonymous_clicks"] \
            + t["anonymous_machine_clicks"]
        result[campaign_id] = CampaignMetrics(
            campaign_id=campaign_id, recipients=sum(d.get(s, 0) for s in ("queued", "sending", "sent", "failed",
                                                                          "suppressed")),
            sent=sent, failed=failed, pending=d.get("queued", 0) + d.get("sending", 0),
            suppressed=d.get("suppressed", 0), bounced=bounced, hard_bounced=hard, soft_bounced=bounced - hard,
            delivered=delivered, delivery_rate=rate(delivered, sent + failed),
            unique_opens=opens, machine_opens=t["machine_opened"] + t["anonymous_machine_opens"],
            open_rate=rate(opens, delivered),
            unique_clicks=clicks, machine_clicks=t["machine_clicked"] + t["anonymous_machine_clicks"],
            click_rate=rate(clicks, delivered), click_to_open=rate(clicks, opens),
            unsubscribes=unsubscribes, unsubscribe_rate=rate(unsubscribes, delivered),
            complaints=complaints, complaint_rate=rate(complaints, delivered),
            conversions=c["conversions"], converted=c["converted"], conversion_rate=rate(c["converted"], delivered),
            revenue=revenue, revenue_per_recipient=revenue / delivered if delivered else None, currency=currency,
            individual=tracking_individuals and not anonymous)
    return result


def campaign_metrics(campaign_id: int) -> CampaignMetrics:
    """Return one campaign's headline metrics (cached: see tracking/metrics_cache.py for how fresh)."""
    campaign = get_campaign(campaign_id)
    return cached("metrics", campaign_id, _running(campaign), _metrics_now(campaign_id))


def _metrics_now(campaign_id: int) -> Callable[[], CampaignMetrics]:
    return lambda: metrics_of([campaign_id])[campaign_id]


def campaign_report(campaign_id: int) -> CampaignReport:
    """Return one campaign's whole report (cached: see tracking/metrics_cache.py for how fresh)."""
    campaign = get_campaign(campaign_id)
    return cached("report", campaign_id, _running(campaign), lambda: build_report(campaign))


def build_report(campaign: Campaign) -> CampaignReport:
    """Compute a campaign's report from the database now (no cache): rollups and indexes, never all its rows."""
    computed_at = utcnow()
    deliveries, by_domain = tallies.deliveries_by_domain([campaign.id])[campaign.id]
    bounces = q.bounce_counts([campaign.id])
    conversions = q.conversion_counts([campaign.id])
    metrics = metrics_of([campaign.id], {campaign.id: deliveries}, bounces, conversions)[campaign.id]
    slots = (("open", True), ("open", False), ("click", True), ("click", False))
    hours = [(at, kind, human, number) for at, *numbers in q.hourly(campaign.id)
             for (kind, human), number in zip(slots, numbers, strict=True) if number]
    return CampaignReport(
        metrics=metrics, started_at=campaign.started_at, computed_at=computed_at,
        timeline=timeline(hours, campaign.started_at),
        links=tuple(LinkStats(*row) for row in q.link_clicks(campaign.id)),
        domains=domains(campaign.id, metrics, by_domain, bounces.get(campaign.id, {}).get("domains", {})),
        clients=tuple(Share(*row) for row in q.opens_by("client", campaign.id, TOP_CLIENTS)),
        devices=tuple(Share(*row) for row in q.opens_by("device", campaign.id, TOP_CLIENTS)),
        bounces=tuple(BounceRow(b.email, b.type.value, b.sender_refused, b.status, b.diagnostic, b.source,
                                b.created_at) for b in q.recent_bounces(campaign.id, RECENT_BOUNCES)),
        **revenue_parts(conversions[campaign.id], metrics.currency))


def revenue_parts(counts: dict[str, Any], currency: str) -> dict[str, Any]:
    """The report's revenue in every currency (the installation's first) and its conversions without revenue, from
    a campaign's q.conversion_counts."""
    amounts = sorted(counts["revenue"].items(), key=lambda item: (item[0] != currency, item[0]))
    return {"revenue": tuple(Money(code, major(amount, code)) for code, amount in amounts),
            "no_revenue": tuple(NoRevenue(problem, number) for problem, number in sorted(counts["problems"].items()))}


def timeline(hours: Sequence[tuple[datetime, str, bool, int]], started_at: datetime | None
             ) -> tuple[TimelineBucket, ...]:
    """Fold hourly event counts into the report's buckets: hourly for HOURLY hours from the start, then daily.

    Buckets run without gaps from the hour the send started to the last one with events.
    """
    if not hours:
        return ()
    hour = timedelta(hours=1)
    origin = (started_at or hours[0][0]).replace(minute=0, second=0, microsecond=0)

    def bucket_of(at: datetime) -> datetime:
        offset = max(0, (at - origin) // hour)  # anything before the start joins the first hour
        if offset < HOURLY:
            return origin + offset * hour
        return origin + (HOURLY + (offset - HOURLY) // 24 * 24) * hour

    counts: dict[datetime, list[int]] = {}
    slot = {("open", True): 0, ("open", False): 1, ("click", True): 2, ("click", False): 3}
    for at, kind, human, number in hours:
        counts.setdefault(bucket_of(at), [0, 0, 0, 0])[slot[kind, human]] += number
    last = max(counts)
    buckets = []
    start = origin
    while start <= last:
        width = 1 if start < origin + HOURLY * hour else 24
        buckets.append(TimelineBucket(start, width, *counts.get(start, [0, 0, 0, 0])))
        start += width * hour
    return tuple(buckets)


def domains(campaign_id: int, metrics: CampaignMetrics, by_domain: Sequence[tuple[str, int, int]],
            bounced: dict[str, int]) -> tuple[DomainStats, ...]:
    """The TOP_DOMAINS receiving domains by recipients, and one ``other`` row with the rest.

    ``by_domain``: (domain, recipients, sent) of every domain; ``bounced``: bounced deliveries per domain.
    ``other`` is the campaign's totals minus the top rows, so it also holds deliveries that name no
    domain (inserted without a subscriber).
    Opens and clicks here are deliveries' (events with individual tracking off name no address, so no
    domain).
    """
    top = sorted(by_domain, key=lambda row: (-row[1], row[0]))[:TOP_DOMAINS]
    reached = q.domain_rollup(campaign_id)
    rows = [DomainStats(name, recipients, sent, bounced.get(name, 0), *reached.get(name, (0, 0)))
            for name, recipients, sent in top]
    totals = q.totals([campaign_id])[campaign_id]
    rest = DomainStats(OTHER, metrics.recipients - sum(r.recipients for r in rows),
                       metrics.sent - sum(r.sent for r in rows), metrics.bounced - sum(r.bounced for r in rows),
                       totals["opened"] - sum(r.opened for r in rows), totals["clicked"] - sum(r.clicked for r in rows))
    return tuple(rows + ([rest] if rest.recipients else []))


def compare_campaigns(limit: int = COMPARED) -> list[dict[str, Any]]:
    """The most recently started campaigns' headline rates, newest first (for a dashboard comparison); the
    campaigns the campaign list shows, so not an automation's message."""
    campaigns = list(db.session.execute(
        select(Campaign.id, Campaign.name, Campaign.status, Campaign.started_at)
        .where(Campaign.started_at.is_not(None), LISTED).order_by(Campaign.started_at.desc(), Campaign.id.desc())
        .limit(limit)))
    rows = []
    for campaign_id, name, status, started_at in campaigns:
        metrics = cached("metrics", campaign_id, status == CampaignStatus.RUNNING, _metrics_now(campaign_id))
        rows.append({"id": campaign_id, "name": name, "status": CampaignStatus(status).value,
                     "started_at": started_at.isoformat() if started_at else None, **metrics.as_dict()})
    return rows
